import { RoamError } from "../../errors/mod.ts";
import type { KeyPage, ListOptions, Pool, PoolStats } from "./pool.ts";

/**
 * Pools as read-through caches: `tiers[0]` (fastest, for example memory),
 * then each next one, the last being the origin. A read tries each tier in
 * order and writes a hit back into the faster tiers it missed. A write goes
 * to the origin first, then to the caches; a delete removes the key from the
 * caches first, then from the origin, so no tier keeps a stale copy. Keys
 * are listed from the origin.
 *
 * @example
 * const pool = new ChainPool("s3", [new MemoryPool(), localCache, s3]);
 */
export class ChainPool implements Pool {
  /** The chain's name. */
  readonly name: string;
  /** Always `chain`. */
  readonly kind = "chain" as const;
  /** Fastest first, origin last. */
  readonly tiers: readonly Pool[];
  #hits = 0;
  #misses = 0;

  /** A chain over `tiers`, fastest first. */
  constructor(name: string, tiers: Pool[]) {
    if (tiers.length === 0) {
      throw new RoamError("invalid_input", "a pool chain needs at least one pool");
    }
    this.name = name;
    this.tiers = Object.freeze([...tiers]);
  }

  /** The last tier, where records really live. */
  get origin(): Pool {
    return this.tiers[this.tiers.length - 1];
  }

  async get(key: string): Promise<Uint8Array | null> {
    for (let i = 0; i < this.tiers.length; i++) {
      const record = await this.tiers[i].get(key);
      if (record) {
        this.#hits++;
        // A cache that cannot take the copy is no reason to fail the read.
        await Promise.all(this.tiers.slice(0, i).map((t) => t.put(key, record).catch(() => {})));
        return record;
      }
    }
    this.#misses++;
    return null;
  }

  async put(key: string, record: Uint8Array): Promise<void> {
    await this.origin.put(key, record);
    await Promise.all(this.tiers.slice(0, -1).map((t) => t.put(key, record)));
  }

  /** Create in the origin (atomically where it can), then fill the caches. */
  async create(key: string, record: Uint8Array): Promise<boolean> {
    const origin = this.origin;
    if (origin.create) {
      if (!(await origin.create(key, record))) return false;
    } else {
      if (await origin.has(key)) return false;
      await origin.put(key, record);
    }
    await Promise.all(this.tiers.slice(0, -1).map((t) => t.put(key, record)));
    return true;
  }

  async delete(key: string): Promise<boolean> {
    for (const t of this.tiers.slice(0, -1)) await t.delete(key);
    return await this.origin.delete(key);
  }

  async has(key: string): Promise<boolean> {
    return await this.origin.has(key);
  }

  list(options?: ListOptions): Promise<KeyPage> {
    return this.origin.list(options);
  }

  stats(): PoolStats & { tiers: { name: string; kind: Pool["kind"]; stats: PoolStats }[] } {
    const origin = this.origin.stats();
    return {
      hits: this.#hits,
      misses: this.#misses,
      puts: origin.puts,
      deletes: origin.deletes,
      ...(origin.entries !== undefined ? { entries: origin.entries } : {}),
      ...(origin.bytes !== undefined ? { bytes: origin.bytes } : {}),
      tiers: this.tiers.map((t) => ({ name: t.name, kind: t.kind, stats: t.stats() })),
    };
  }

  async close(): Promise<void> {
    for (const t of this.tiers) await t.close?.();
  }
}
