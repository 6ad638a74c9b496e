/** What a pool counts, for `memory.pools` and the cache-chain tests. */
export interface PoolStats {
  /** Reads that found the record. */
  hits: number;
  /** Reads that did not. */
  misses: number;
  /** Records written. */
  puts: number;
  /** Records removed. */
  deletes: number;
  /** Records held now, where the pool knows cheaply. */
  entries?: number;
  /** Bytes held now, where the pool knows cheaply. */
  bytes?: number;
}

/** One page of a pool's keys. */
export interface KeyPage {
  /** Keys in ascending order. */
  keys: string[];
  /** Pass as `after` for the next page; absent on the last one. */
  next?: string;
}

/** Which keys to list. */
export interface ListOptions {
  /** Only keys starting with this (a uuid plus `:` lists one entry's evolutions). */
  prefix?: string;
  /** Only keys after this one. */
  after?: string;
  /** Most keys in the page (default 1000). */
  limit?: number;
}

/** The kinds of pool. */
export type PoolKind = "memory" | "local" | "peer" | "s3" | "chain";

/**
 * Where records live: bytes by key (an entry's global id). A pool knows
 * nothing of entries or transforms; records are self-describing.
 */
export interface Pool {
  /** The name it is known by. */
  readonly name: string;
  /** What it is. */
  readonly kind: PoolKind;
  /** The record under `key`, or null. */
  get(key: string): Promise<Uint8Array | null>;
  /** Store a record under `key`, replacing what was there. */
  put(key: string, record: Uint8Array): Promise<void>;
  /**
   * Store a record only if `key` holds none, atomically; whether it was
   * stored. Pools that cannot do this leave it out, and writers look first.
   */
  create?(key: string, record: Uint8Array): Promise<boolean>;
  /** Remove `key`; whether it was there. */
  delete(key: string): Promise<boolean>;
  /** Whether `key` is there. */
  has(key: string): Promise<boolean>;
  /** A page of keys, in ascending order. */
  list(options?: ListOptions): Promise<KeyPage>;
  /** Counters (and, for a chain, one set per tier). */
  stats(): PoolStats & { tiers?: { name: string; kind: PoolKind; stats: PoolStats }[] };
  /** Release what it holds open. */
  close?(): Promise<void> | void;
}

/** Counters a pool keeps. */
export function newStats(): PoolStats {
  return { hits: 0, misses: 0, puts: 0, deletes: 0 };
}

/** Default and largest page size for `list`. */
export const LIST_LIMIT = { default: 1000, max: 10_000 } as const;

/** Clamp a requested page size. */
export function pageSize(limit?: number): number {
  return Math.max(1, Math.min(LIST_LIMIT.max, Math.floor(limit ?? LIST_LIMIT.default)));
}

/** One page out of a sorted list of keys. */
export function pageOf(sorted: string[], options: ListOptions = {}): KeyPage {
  const limit = pageSize(options.limit);
  const prefix = options.prefix ?? "";
  const keys: string[] = [];
  for (const key of sorted) {
    if (!key.startsWith(prefix)) continue;
    if (options.after !== undefined && key <= options.after) continue;
    if (keys.length === limit) return { keys, next: keys[keys.length - 1] };
    keys.push(key);
  }
  return { keys };
}
