import type { DatabaseSync } from "node:sqlite";
import { RoamError } from "../../errors/mod.ts";
import type { BlobStore } from "./blob_store.ts";
import {
  type KeyPage,
  type ListOptions,
  newStats,
  pageSize,
  type Pool,
  type PoolStats,
} from "./pool.ts";

/** Where a key's record lives in the blob store. */
export interface RecordLink {
  /** The key (an entry's global id). */
  key: string;
  /** The blob holding the record. */
  sha256: string;
  /** Its size in bytes. */
  size: number;
}

/**
 * The host's own pool: records as content-addressed blobs in a
 * {@linkcode BlobStore} (the ArtifactStore), and an index in the host
 * database mapping each key to its blob. Every blob an entry references is
 * pinned with holder `entry:<global id>` and unpinned when it is forgotten.
 */
export class LocalPool implements Pool {
  /** The pool's name, also the index's scope: two local pools never see each other's keys. */
  readonly name: string;
  /** Always `local`. */
  readonly kind = "local" as const;
  readonly #db: DatabaseSync;
  readonly #blobs: BlobStore;
  readonly #pin: boolean;
  readonly #ttlMs: number | undefined;
  readonly #stats = newStats();

  /**
   * A pool named `name` over the `memory_records` table of `db` and the blobs
   * of `blobs`. With `pin: false` (a cache tier) its blobs are left to the
   * blob store's garbage collection, and a key whose blob was collected reads
   * as a miss and is dropped from the index. `ttlMs` (a cache tier only):
   * its blobs expire that long after they were written, so collection keeps
   * the cache bounded in time.
   */
  constructor(
    options: { name?: string; db: DatabaseSync; blobs: BlobStore; pin?: boolean; ttlMs?: number },
  ) {
    this.name = options.name ?? "local";
    this.#db = options.db;
    this.#blobs = options.blobs;
    this.#pin = options.pin ?? true;
    this.#ttlMs = this.#pin ? undefined : options.ttlMs;
  }

  /** What a blob written now is stored with. */
  #meta(key: string) {
    return {
      name: key,
      mediaType: "application/vnd.roam.record",
      owner: `memory:${this.name}`,
      ...(this.#ttlMs === undefined ? {} : { expiresAt: Date.now() + this.#ttlMs }),
    };
  }

  async get(key: string): Promise<Uint8Array | null> {
    const link = this.lookup(key);
    const bytes = link ? await this.#blobs.getBytes(link.sha256) : null;
    if (!bytes) {
      if (link) {
        // The blob is gone (collected from a cache tier): the index must not keep pointing at it.
        this.#db.prepare("DELETE FROM memory_records WHERE pool = ? AND key = ? AND sha256 = ?")
          .run(this.name, key, link.sha256);
      }
      this.#stats.misses++;
      return null;
    }
    this.#stats.hits++;
    return bytes;
  }

  async put(key: string, record: Uint8Array): Promise<void> {
    const { sha256, size } = await this.#blobs.putBytes(record, this.#meta(key));
    await this.link({ key, sha256, size });
  }

  /** Store a record only if `key` holds none (one SQLite statement decides). */
  async create(key: string, record: Uint8Array): Promise<boolean> {
    const { sha256, size } = await this.#blobs.putBytes(record, this.#meta(key));
    // Pinned before the index names it, so garbage collection never sees it unreferenced.
    if (this.#pin) await this.#blobs.pin(sha256, holder(key));
    const { changes } = this.#db.prepare(
      `INSERT INTO memory_records (pool, key, sha256, size, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (pool, key) DO NOTHING`,
    ).run(this.name, key, sha256, size, Date.now());
    if (Number(changes) === 1) {
      this.#stats.puts++;
      return true;
    }
    await this.#release(key, sha256);
    return false;
  }

  /**
   * Point `key` at a blob already in the store (a peer uploaded it first):
   * pin it for the entry, then record the link; the old blob, if any, is
   * unpinned when nothing else links it for that entry.
   */
  async link(link: RecordLink): Promise<void> {
    if (!(await this.#blobs.has(link.sha256))) {
      throw new RoamError(
        "not_found",
        `no blob ${link.sha256} on this host; upload it first (PUT /artifacts)`,
        {
          sha256: link.sha256,
        },
      );
    }
    if (this.#pin) await this.#blobs.pin(link.sha256, holder(link.key));
    const old = this.lookup(link.key);
    this.#db.prepare(
      `INSERT INTO memory_records (pool, key, sha256, size, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (pool, key) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size,
       created_at = excluded.created_at`,
    ).run(this.name, link.key, link.sha256, link.size, Date.now());
    this.#stats.puts++;
    if (old && old.sha256 !== link.sha256) await this.#release(link.key, old.sha256);
  }

  /** Where `key`'s record is, without reading it. */
  lookup(key: string): RecordLink | undefined {
    const row = this.#db.prepare(
      "SELECT key, sha256, size FROM memory_records WHERE pool = ? AND key = ?",
    ).get(this.name, key) as { key: string; sha256: string; size: number } | undefined;
    return row ? { key: row.key, sha256: row.sha256, size: Number(row.size) } : undefined;
  }

  async delete(key: string): Promise<boolean> {
    const old = this.lookup(key);
    if (!old) return false;
    this.#db.prepare("DELETE FROM memory_records WHERE pool = ? AND key = ?").run(this.name, key);
    this.#stats.deletes++;
    await this.#release(key, old.sha256);
    return true;
  }

  has(key: string): Promise<boolean> {
    return Promise.resolve(this.lookup(key) !== undefined);
  }

  list(options: ListOptions = {}): Promise<KeyPage> {
    const limit = pageSize(options.limit);
    const prefix = options.prefix ?? "";
    // Keys are ids (hex, '-', ':', digits): no LIKE wildcards to escape, but keep it exact anyway.
    const rows = this.#db.prepare(
      `SELECT key FROM memory_records WHERE pool = ? AND key > ? AND substr(key, 1, ?) = ?
       ORDER BY key LIMIT ?`,
    ).all(this.name, options.after ?? "", prefix.length, prefix, limit + 1) as { key: string }[];
    const keys = rows.slice(0, limit).map((r) => r.key);
    return Promise.resolve(rows.length > limit ? { keys, next: keys[keys.length - 1] } : { keys });
  }

  stats(): PoolStats {
    const row = this.#db.prepare(
      "SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM memory_records WHERE pool = ?",
    ).get(this.name) as { n: number; bytes: number };
    return { ...this.#stats, entries: Number(row.n), bytes: Number(row.bytes) };
  }

  async #release(key: string, sha256: string): Promise<void> {
    if (!this.#pin) return;
    const still = this.#db.prepare(
      "SELECT 1 FROM memory_records WHERE key = ? AND sha256 = ? LIMIT 1",
    ).get(key, sha256);
    if (!still) await this.#blobs.unpin(sha256, holder(key));
  }
}

/** The pin holder of an entry's blob. */
export function holder(key: string): string {
  return `entry:${key}`;
}
