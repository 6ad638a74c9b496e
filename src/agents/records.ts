import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { Message } from "./sdk/mod.ts";

/** Where an agent is in its life, as stored. */
export type AgentStatus = "active" | "inactive" | "crashed";

/** What happens to an agent while it sleeps. */
export interface Policy {
  /** Wake when a message arrives. */
  activateOnMessage: boolean;
  /** Keep messages while asleep (when not waking on them). */
  queueWhenInactive: boolean;
}

/** An agent as stored. */
export interface AgentRecord {
  id: string;
  plugin: string;
  version: string;
  sha256: string;
  status: AgentStatus;
  state: unknown;
  policy: Policy;
  activateAt: number | null;
  activateOnStartup: boolean;
  reason: string | null;
  createdAt: number;
  updatedAt: number;
}

type Row = {
  id: string;
  plugin: string;
  version: string;
  sha256: string;
  status: AgentStatus;
  state: string;
  policy: string;
  activate_at: number | null;
  activate_on_startup: number;
  reason: string | null;
  created_at: number;
  updated_at: number;
};

/** The default sleep policy. */
export const DEFAULT_POLICY: Policy = { activateOnMessage: true, queueWhenInactive: true };

/** The agents table and the queue of messages for sleeping agents. */
export class AgentRecords {
  readonly #db: DatabaseSync;
  readonly #get: StatementSync;
  readonly #saveState: StatementSync;
  readonly #enqueue: StatementSync;
  readonly #dequeue: StatementSync;

  /** Use `db` (which must have the agents tables). */
  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#get = db.prepare("SELECT * FROM agents WHERE id = ?");
    this.#saveState = db.prepare("UPDATE agents SET state = ?, updated_at = ? WHERE id = ?");
    this.#enqueue = db.prepare(
      "INSERT INTO agent_queue (agent_id, message, queued_at) VALUES (?, ?, ?) RETURNING seq",
    );
    this.#dequeue = db.prepare("DELETE FROM agent_queue WHERE seq = ?");
  }

  /** Insert or replace a record. */
  put(record: Omit<AgentRecord, "createdAt" | "updatedAt"> & { createdAt?: number }): void {
    const now = Date.now();
    this.#db.prepare(
      `INSERT INTO agents (id, plugin, version, sha256, status, state, policy, activate_at, activate_on_startup, reason, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET plugin = excluded.plugin, version = excluded.version, sha256 = excluded.sha256,
         status = excluded.status, state = excluded.state, policy = excluded.policy, activate_at = excluded.activate_at,
         activate_on_startup = excluded.activate_on_startup, reason = excluded.reason, updated_at = excluded.updated_at`,
    ).run(
      record.id,
      record.plugin,
      record.version,
      record.sha256,
      record.status,
      JSON.stringify(record.state),
      JSON.stringify(record.policy),
      record.activateAt,
      record.activateOnStartup ? 1 : 0,
      record.reason,
      record.createdAt ?? now,
      now,
    );
  }

  /** Whether there is a record of the agent (without reading its state). */
  has(id: string): boolean {
    return this.#db.prepare("SELECT 1 FROM agents WHERE id = ?").get(id) !== undefined;
  }

  /** One record. */
  get(id: string): AgentRecord | undefined {
    const row = this.#get.get(id) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** Every record, optionally of one status. */
  list(status?: AgentStatus): AgentRecord[] {
    const rows = status
      ? this.#db.prepare("SELECT * FROM agents WHERE status = ? ORDER BY created_at").all(status)
      : this.#db.prepare("SELECT * FROM agents ORDER BY created_at").all();
    return (rows as Row[]).map(toRecord);
  }

  /** Record a new last good state of a running agent. */
  saveState(id: string, state: unknown): void {
    this.#saveState.run(JSON.stringify(state), Date.now(), id);
  }

  /** Sleeping agents due to wake at or before `now`. */
  due(now: number): string[] {
    return (this.#db.prepare("SELECT id FROM agents WHERE status = 'inactive' AND activate_at <= ?")
      .all(now) as {
        id: string;
      }[]).map((r) => r.id);
  }

  /** Delete a record and its queue. */
  delete(id: string): void {
    this.#db.prepare("DELETE FROM agent_queue WHERE agent_id = ?").run(id);
    this.#db.prepare("DELETE FROM agents WHERE id = ?").run(id);
  }

  /** Keep a message for a sleeping agent; returns its place in the queue. */
  enqueue(id: string, message: Message): number {
    this.#enqueue.get(id, JSON.stringify(message), Date.now());
    return this.queued(id);
  }

  /** How many messages wait for an agent. */
  queued(id: string): number {
    return (this.#db.prepare("SELECT count(*) AS n FROM agent_queue WHERE agent_id = ?").get(
      id,
    ) as { n: number }).n;
  }

  /** The oldest waiting messages of an agent. */
  peek(id: string, limit: number): { seq: number; message: Message }[] {
    return (this.#db.prepare(
      "SELECT seq, message FROM agent_queue WHERE agent_id = ? ORDER BY seq LIMIT ?",
    ).all(
      id,
      limit,
    ) as { seq: number; message: string }[]).map((r) => ({
      seq: r.seq,
      message: JSON.parse(r.message),
    }));
  }

  /** Forget one waiting message (it was delivered). */
  remove(seq: number): void {
    this.#dequeue.run(seq);
  }
}

function toRecord(row: Row): AgentRecord {
  return {
    id: row.id,
    plugin: row.plugin,
    version: row.version,
    sha256: row.sha256,
    status: row.status,
    state: JSON.parse(row.state),
    policy: { ...DEFAULT_POLICY, ...JSON.parse(row.policy) },
    activateAt: row.activate_at,
    activateOnStartup: row.activate_on_startup === 1,
    reason: row.reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
