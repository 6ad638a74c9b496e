import type { DatabaseSync, StatementSync } from "node:sqlite";
import { transaction } from "../store/transaction.ts";

/** One pin: a holder that keeps a blob from garbage collection. */
export interface Pin {
  /** `agent:<id>`, `entry:<id>`, `job:<id>`, `user` or `user:<name>`. */
  holder: string;
  /** A name the holder gives the blob (an agent's file name), if any. */
  name: string | null;
  /** When it was pinned (ms since the epoch). */
  createdAt: number;
}

/** What the store knows about one blob. */
export interface BlobRow {
  sha256: string;
  size: number;
  createdAt: number;
  owner: string | null;
  name: string | null;
  mediaType: string | null;
  /** When it expires (ms since the epoch), or null for never. */
  expiresAt: number | null;
  /** When its last pin was removed, or null while pinned or never pinned. */
  releasedAt: number | null;
}

/** Which blobs {@linkcode ArtifactIndex.list} returns. */
export interface ListFilter {
  owner?: string;
  name?: string;
  holder?: string;
  limit: number;
  offset: number;
}

type Row = {
  sha256: string;
  size: number;
  created_at: number;
  owner: string | null;
  name: string | null;
  media_type: string | null;
  expires_at: number | null;
  released_at: number | null;
};

/**
 * The blobs' metadata and pins in the host's SQLite database (migration
 * `artifacts`). Every method is one statement or one transaction.
 */
export class ArtifactIndex {
  readonly #db: DatabaseSync;
  readonly #sql: Record<string, StatementSync>;

  /** Use `db`, migrated. */
  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#sql = {
      get: db.prepare("SELECT * FROM artifacts WHERE sha256 = ?"),
      insert: db.prepare(
        `INSERT INTO artifacts (sha256, size, created_at, owner, name, media_type, expires_at, released_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
      ),
      refresh: db.prepare(
        `UPDATE artifacts SET owner = COALESCE(owner, ?), name = COALESCE(name, ?),
           media_type = COALESCE(media_type, ?), expires_at = ?, released_at = NULL WHERE sha256 = ?`,
      ),
      remove: db.prepare("DELETE FROM artifacts WHERE sha256 = ?"),
      removePins: db.prepare("DELETE FROM artifact_pins WHERE sha256 = ?"),
      used: db.prepare("SELECT COALESCE(SUM(size), 0) AS used, COUNT(*) AS count FROM artifacts"),
      all: db.prepare("SELECT sha256 FROM artifacts"),
      pins: db.prepare(
        "SELECT holder, name, created_at FROM artifact_pins WHERE sha256 = ? ORDER BY created_at",
      ),
      pin: db.prepare(
        `INSERT INTO artifact_pins (sha256, holder, name, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (sha256, holder) DO UPDATE SET name = COALESCE(excluded.name, name)`,
      ),
      unpin: db.prepare("DELETE FROM artifact_pins WHERE sha256 = ? AND holder = ?"),
      pinCount: db.prepare("SELECT COUNT(*) AS n FROM artifact_pins WHERE sha256 = ?"),
      release: db.prepare("UPDATE artifacts SET released_at = ? WHERE sha256 = ?"),
      unrelease: db.prepare("UPDATE artifacts SET released_at = NULL WHERE sha256 = ?"),
      held: db.prepare(
        "SELECT sha256, name, created_at FROM artifact_pins WHERE holder = ? ORDER BY created_at",
      ),
      garbage: db.prepare(
        `SELECT * FROM artifacts a
         WHERE NOT EXISTS (SELECT 1 FROM artifact_pins p WHERE p.sha256 = a.sha256)
           AND ((a.expires_at IS NOT NULL AND a.expires_at <= ?)
             OR (a.released_at IS NOT NULL AND a.released_at <= ?))
         ORDER BY a.created_at`,
      ),
    };
  }

  /** One blob's row. */
  get(sha256: string): BlobRow | undefined {
    const row = this.#sql.get.get(sha256) as Row | undefined;
    return row && toBlob(row);
  }

  /** Record a new blob. */
  insert(blob: Omit<BlobRow, "releasedAt">): void {
    this.#sql.insert.run(
      blob.sha256,
      blob.size,
      blob.createdAt,
      blob.owner,
      blob.name,
      blob.mediaType,
      blob.expiresAt,
    );
  }

  /**
   * The same blob was stored again: fill in names it lacked, set its expiry,
   * and make it wanted again (no longer released).
   */
  refresh(
    sha256: string,
    meta: { owner: string | null; name: string | null; mediaType: string | null },
    expiresAt: number | null,
  ): void {
    this.#sql.refresh.run(meta.owner, meta.name, meta.mediaType, expiresAt, sha256);
  }

  /** Forget a blob and its pins. */
  remove(sha256: string): void {
    this.#transaction(() => {
      this.#sql.removePins.run(sha256);
      this.#sql.remove.run(sha256);
    });
  }

  /** Bytes and blobs stored. */
  usage(): { used: number; count: number } {
    const row = this.#sql.used.get() as { used: number; count: number };
    return { used: Number(row.used), count: Number(row.count) };
  }

  /** Every blob's sha256. */
  hashes(): string[] {
    return (this.#sql.all.all() as { sha256: string }[]).map((r) => r.sha256);
  }

  /** Blobs matching `filter`, newest first. */
  list(filter: ListFilter): BlobRow[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.owner !== undefined) {
      where.push("owner = ?");
      args.push(filter.owner);
    }
    if (filter.name !== undefined) {
      where.push("name = ?");
      args.push(filter.name);
    }
    if (filter.holder !== undefined) {
      where.push("sha256 IN (SELECT sha256 FROM artifact_pins WHERE holder = ?)");
      args.push(filter.holder);
    }
    const sql = `SELECT * FROM artifacts ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY created_at DESC, sha256 LIMIT ? OFFSET ?`;
    return (this.#db.prepare(sql).all(...args, filter.limit, filter.offset) as Row[]).map(toBlob);
  }

  /** A blob's pins, oldest first. */
  pins(sha256: string): Pin[] {
    return (this.#sql.pins.all(sha256) as {
      holder: string;
      name: string | null;
      created_at: number;
    }[])
      .map((p) => ({ holder: p.holder, name: p.name, createdAt: p.created_at }));
  }

  /** Pin a blob for a holder (again: keeps the first pin, takes a new name). */
  pin(sha256: string, holder: string, name: string | null): void {
    this.#transaction(() => {
      this.#sql.pin.run(sha256, holder, name, Date.now());
      this.#sql.unrelease.run(sha256);
    });
  }

  /** Remove a holder's pin; the last pin's removal marks the blob released. Whether a pin was removed. */
  unpin(sha256: string, holder: string, now = Date.now()): boolean {
    let removed = false;
    this.#transaction(() => {
      removed = Number(this.#sql.unpin.run(sha256, holder).changes) > 0;
      const left = (this.#sql.pinCount.get(sha256) as { n: number }).n;
      if (removed && Number(left) === 0) this.#sql.release.run(now, sha256);
    });
    return removed;
  }

  /** Mark a blob released at `now` (collected after the grace period unless pinned or stored again). */
  release(sha256: string, now: number): void {
    this.#sql.release.run(now, sha256);
  }

  /** The blobs a holder pins, with the names it gave them. */
  heldBy(holder: string): { sha256: string; name: string | null; createdAt: number }[] {
    return (this.#sql.held.all(holder) as {
      sha256: string;
      name: string | null;
      created_at: number;
    }[])
      .map((p) => ({ sha256: p.sha256, name: p.name, createdAt: p.created_at }));
  }

  /** Unpinned blobs that expired by `now`, or were released by `releasedBefore`. */
  garbage(now: number, releasedBefore: number): BlobRow[] {
    return (this.#sql.garbage.all(now, releasedBefore) as Row[]).map(toBlob);
  }

  #transaction(fn: () => void) {
    transaction(this.#db, fn);
  }
}

function toBlob(row: Row): BlobRow {
  return {
    sha256: row.sha256,
    size: Number(row.size),
    createdAt: Number(row.created_at),
    owner: row.owner,
    name: row.name,
    mediaType: row.media_type,
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
    releasedAt: row.released_at === null ? null : Number(row.released_at),
  };
}
