import { RoamError } from "../../errors/mod.ts";
import {
  type KeyPage,
  type ListOptions,
  newStats,
  pageOf,
  type Pool,
  type PoolStats,
} from "./pool.ts";

/** Bounds of a {@linkcode MemoryPool}. */
export interface MemoryPoolOptions {
  /** Most records held; the least recently used go first past it. Default 10 000. */
  maxEntries?: number;
  /** Most bytes held. Default 256 MiB. */
  maxBytes?: number;
}

/**
 * Records in this process, least recently used evicted first past
 * `maxEntries` or `maxBytes`. Stores copies, so nothing aliases a caller's
 * buffer. Lost when the process ends: use it as the first tier of a chain.
 */
export class MemoryPool implements Pool {
  /** The pool's name. */
  readonly name: string;
  /** Always `memory`. */
  readonly kind = "memory" as const;
  readonly #records = new Map<string, Uint8Array>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  #bytes = 0;
  readonly #stats = newStats();
  /** Records evicted to stay within bounds. */
  evictions = 0;

  /** A pool with the given bounds. */
  constructor(name = "memory", options: MemoryPoolOptions = {}) {
    this.name = name;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
    if (this.#maxEntries < 1 || this.#maxBytes < 1) {
      throw new RoamError("invalid_input", "a memory pool holds at least one record and one byte");
    }
  }

  get(key: string): Promise<Uint8Array | null> {
    const record = this.#records.get(key);
    if (!record) {
      this.#stats.misses++;
      return Promise.resolve(null);
    }
    this.#records.delete(key);
    this.#records.set(key, record);
    this.#stats.hits++;
    return Promise.resolve(record.slice());
  }

  put(key: string, record: Uint8Array): Promise<void> {
    if (record.length > this.#maxBytes) return Promise.resolve(); // too big to cache: not an error
    this.#drop(key);
    this.#records.set(key, record.slice());
    this.#bytes += record.length;
    this.#stats.puts++;
    while (this.#records.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const oldest = this.#records.keys().next().value!;
      this.#drop(oldest);
      this.evictions++;
    }
    return Promise.resolve();
  }

  create(key: string, record: Uint8Array): Promise<boolean> {
    if (this.#records.has(key)) return Promise.resolve(false);
    return this.put(key, record).then(() => true);
  }

  delete(key: string): Promise<boolean> {
    const had = this.#drop(key);
    if (had) this.#stats.deletes++;
    return Promise.resolve(had);
  }

  has(key: string): Promise<boolean> {
    return Promise.resolve(this.#records.has(key));
  }

  list(options?: ListOptions): Promise<KeyPage> {
    return Promise.resolve(pageOf([...this.#records.keys()].sort(), options));
  }

  stats(): PoolStats {
    return { ...this.#stats, entries: this.#records.size, bytes: this.#bytes };
  }

  #drop(key: string): boolean {
    const old = this.#records.get(key);
    if (!old) return false;
    this.#bytes -= old.length;
    this.#records.delete(key);
    return true;
  }
}
