import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { RoamEvent } from "../api/mod.ts";

export type { RoamEvent };

/** Options for {@linkcode EventLog}. */
export interface EventLogOptions {
  /** Most events kept; older ones are dropped. Default 10 000. */
  retain?: number;
  /** Most live listeners at once. Default 256. */
  maxListeners?: number;
}

/** A query over the log. */
export interface EventQuery {
  /** Only events with a seq above this. */
  since: number;
  /** Most events returned. */
  limit: number;
  /** Only these types (exact, or a prefix ending in `.`, like `host.`). */
  types?: readonly string[];
}

type Row = { seq: number; ts: number; type: string; subject: string | null; data: string };

/**
 * The host's bounded, durable event log. Every state change is appended here;
 * readers page through it by `seq` and live listeners hear each new event.
 */
export class EventLog {
  readonly #db: DatabaseSync;
  readonly #retain: number;
  readonly #maxListeners: number;
  readonly #listeners = new Set<(event: RoamEvent) => void>();
  readonly #insert: StatementSync;
  readonly #trim: StatementSync;
  #sinceTrim = 0;

  /** Keep the log in `db` (which must have the `events` table). */
  constructor(db: DatabaseSync, options: EventLogOptions = {}) {
    this.#db = db;
    this.#retain = options.retain ?? 10_000;
    this.#maxListeners = options.maxListeners ?? 256;
    this.#insert = db.prepare(
      "INSERT INTO events (ts, type, subject, data) VALUES (?, ?, ?, ?) RETURNING seq",
    );
    this.#trim = db.prepare("DELETE FROM events WHERE seq <= ?");
  }

  /** Record an event and tell every listener. Returns it with its seq. */
  append(
    type: string,
    data: Record<string, unknown> = {},
    subject: string | null = null,
  ): RoamEvent {
    const ts = Date.now();
    const { seq } = this.#insert.get(ts, type, subject, JSON.stringify(data)) as { seq: number };
    // Trim in steps so that appends stay O(1) on average.
    if (++this.#sinceTrim >= Math.max(1, Math.floor(this.#retain / 10))) {
      this.#sinceTrim = 0;
      this.#trim.run(seq - this.#retain);
    }
    const event: RoamEvent = { seq, ts: new Date(ts).toISOString(), type, subject, data };
    for (const fn of this.#listeners) {
      try {
        fn(event);
      } catch { /* one bad listener must not stop the others */ }
    }
    return event;
  }

  /** Events after `query.since`, oldest first. */
  since(query: EventQuery): RoamEvent[] {
    const types = query.types ?? [];
    const filters = types.length
      ? ` AND (${
        types.map((t) => t.endsWith(".") ? "type LIKE ? ESCAPE '\\'" : "type = ?").join(" OR ")
      })`
      : "";
    const args = types.map((t) => t.endsWith(".") ? t.replace(/[\\%_]/g, "\\$&") + "%" : t);
    const rows = this.#db.prepare(
      `SELECT seq, ts, type, subject, data FROM events WHERE seq > ?${filters} ORDER BY seq LIMIT ?`,
    ).all(query.since, ...args, query.limit) as Row[];
    return rows.map(toEvent);
  }

  /** The newest seq (0 when the log is empty) and the oldest still kept. */
  bounds(): { latest: number; oldest: number; count: number } {
    const row = this.#db.prepare("SELECT min(seq) AS lo, max(seq) AS hi, count(*) AS n FROM events")
      .get() as {
        lo: number | null;
        hi: number | null;
        n: number;
      };
    const seqRow = this.#db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
      .get() as
        | { seq: number }
        | undefined;
    return { latest: row.hi ?? seqRow?.seq ?? 0, oldest: row.lo ?? 0, count: row.n };
  }

  /** Most events the log keeps. */
  get retain(): number {
    return this.#retain;
  }

  /**
   * Hear every new event until the returned function is called. Throws when
   * too many listeners are attached already.
   */
  listen(fn: (event: RoamEvent) => void): () => void {
    if (this.#listeners.size >= this.#maxListeners) {
      throw new RangeError(`more than ${this.#maxListeners} event listeners`);
    }
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Whether a type matches a filter list (same rule as {@linkcode EventLog.since}). */
  static matches(type: string, types?: readonly string[]): boolean {
    if (!types?.length) return true;
    return types.some((t) => t === type || (t.endsWith(".") && type.startsWith(t)));
  }
}

function toEvent(row: Row): RoamEvent {
  return {
    seq: row.seq,
    ts: new Date(row.ts).toISOString(),
    type: row.type,
    subject: row.subject,
    data: JSON.parse(row.data),
  };
}
