import { RoamError } from "../errors/mod.ts";
import { Entry, type EntryRef, resolveRef } from "./entry.ts";
import { track } from "./guarantee.ts";
import { globalId, manifestUuid, parseGlobalId } from "./identity.ts";
import {
  type Blueprint,
  blueprintOf,
  checkBlueprint,
  type EntryTree,
  fillBlueprint,
  leafIds,
  type RecalledTree,
} from "./manifest.ts";
import { type CopyOptions, copyPool, type CopyProgress } from "./pools/copy.ts";
import type { KeyPage, ListOptions, Pool } from "./pools/pool.ts";
import { decodeRecord, DEFAULT_MAX_VALUE_BYTES, encodeRecord } from "./record.ts";
import { checkTransforms, type Keyring, type TransformName } from "./transforms.ts";
import { serializeValue } from "./value.ts";

/** Options for {@linkcode Memory}. */
export interface MemoryOptions {
  /** The pools by name. */
  pools: Record<string, Pool>;
  /** The pool used when an operation names none. Default `local`. */
  defaultPool?: string;
  /** Transforms new records get, in order (for example `["gzip", "aes-256-gcm"]`). */
  transforms?: readonly string[];
  /** Encryption keys by id (from the memory secrets file). */
  keys?: Keyring;
  /** The key id new encrypted records use. Default `default`. */
  keyId?: string;
  /** Largest value an entry may hold. Default 64 MiB. */
  maxValueBytes?: number;
  /** Pool operations in flight at once within one call. Default 8. */
  concurrency?: number;
}

/** Which pool an operation uses. */
export interface PoolOption {
  /** A pool name; default the memory's default pool. */
  pool?: string;
}

/** Options for `memorize`. */
export interface MemorizeOptions extends PoolOption {
  /**
   * Replace a different record under the same id. Default false: every
   * version is written once, and storing other content under an id that
   * holds something is a `conflict` (storing the same content again is fine).
   */
  overwrite?: boolean;
}

/** A stored manifest: its entry and its blueprint. */
export interface Manifest {
  /** The manifest's own entry (kind `manifest`). */
  entry: Entry;
  /** Its id. */
  id: string;
  /** Named entry ids, nested. */
  blueprint: Blueprint;
}

/** Most entries one call takes. */
export const MAX_ENTRIES_PER_CALL = 10_000;

/**
 * Entries in pools: memorize (write), remember (read), forget (delete), one
 * or many at once, and manifests. Every operation returns a promise and
 * registers with the enclosing `guarantee` scope, if any.
 *
 * @example
 * const memory = new Memory({ pools: { local: pool } });
 * const id = await memory.memorize(constant({ lr: 0.1 }, { nickname: "cfg" }));
 * const back = await memory.remember({ nickname: "cfg" });
 */
export class Memory {
  readonly #pools: Record<string, Pool>;
  readonly #default: string;
  readonly #transforms: TransformName[];
  readonly #keys: Keyring;
  readonly #keyId: string;
  readonly #maxValue: number;
  readonly #concurrency: number;

  /** A memory over `options.pools`. */
  constructor(options: MemoryOptions) {
    this.#pools = { ...options.pools };
    this.#default = options.defaultPool ?? "local";
    this.#transforms = checkTransforms(options.transforms ?? []);
    this.#keys = options.keys ?? {};
    this.#keyId = options.keyId ?? "default";
    this.#maxValue = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
    this.#concurrency = Math.max(1, options.concurrency ?? 8);
    if (this.#transforms.includes("aes-256-gcm") && !this.#keys[this.#keyId]) {
      throw new RoamError(
        "invalid_input",
        `records are to be encrypted with key "${this.#keyId}", which the memory secrets file does not hold`,
        { keyId: this.#keyId },
      );
    }
    if (!this.#pools[this.#default]) {
      throw new RoamError(
        "invalid_input",
        `the default pool "${this.#default}" is not one of the pools`,
      );
    }
  }

  /** The names of the pools. */
  get poolNames(): string[] {
    return Object.keys(this.#pools);
  }

  /** The default pool's name. */
  get defaultPool(): string {
    return this.#default;
  }

  /** A pool by name (default: the default pool); an unknown name is `not_found`. */
  pool(name?: string): Pool {
    const pool = this.#pools[name ?? this.#default];
    if (!pool) {
      throw new RoamError(
        "not_found",
        `no memory pool "${name}"; this memory has ${Object.keys(this.#pools).join(", ")}`,
        { pool: name },
      );
    }
    return pool;
  }

  /** Store one entry; resolves to its id. */
  memorize(entry: Entry, options?: MemorizeOptions): Promise<string>;
  /** Store many entries (at most `concurrency` at once); resolves to their ids in order. */
  memorize(entries: Entry[], options?: MemorizeOptions): Promise<string[]>;
  memorize(entries: Entry | Entry[], options: MemorizeOptions = {}): Promise<string | string[]> {
    const many = Array.isArray(entries);
    const list = many ? entries : [entries];
    return track((async () => {
      const pool = this.pool(options.pool);
      checkCount(list.length);
      const ids = await mapLimit(
        list,
        this.#concurrency,
        (e) => this.#memorizeOne(pool, e, options),
      );
      return many ? ids : ids[0];
    })());
  }

  /** Read one entry; a missing one is `not_found`. A nickname without evolution reads the latest. */
  remember(ref: EntryRef, options?: PoolOption): Promise<Entry>;
  /** Read many entries, in order; any missing one is `not_found` naming them all. */
  remember(refs: EntryRef[], options?: PoolOption): Promise<Entry[]>;
  remember(refs: EntryRef | EntryRef[], options: PoolOption = {}): Promise<Entry | Entry[]> {
    const many = Array.isArray(refs);
    const list = many ? refs : [refs];
    return track((async () => {
      const pool = this.pool(options.pool);
      checkCount(list.length);
      const ids = await mapLimit(list, this.#concurrency, (r) => this.#exactId(pool, r));
      const found = await mapLimit(ids, this.#concurrency, (id) => this.#read(pool, id));
      const missing = ids.filter((_, i) => !found[i]);
      if (missing.length) {
        throw new RoamError(
          "not_found",
          `pool "${pool.name}" holds no entry ${missing.slice(0, 5).join(", ")}${
            missing.length > 5 ? ` and ${missing.length - 5} more` : ""
          }`,
          { pool: pool.name, missing },
        );
      }
      return many ? found as Entry[] : found[0]!;
    })());
  }

  /** Remove entries from a pool; resolves to how many were there. */
  forget(refs: EntryRef | EntryRef[], options: PoolOption = {}): Promise<number> {
    const list = Array.isArray(refs) ? refs : [refs];
    return track((async () => {
      const pool = this.pool(options.pool);
      checkCount(list.length);
      const ids = await mapLimit(list, this.#concurrency, (r) => this.#exactId(pool, r, true));
      const done = await mapLimit(
        ids,
        this.#concurrency,
        (id) => id ? pool.delete(id) : Promise.resolve(false),
      );
      return done.filter(Boolean).length;
    })());
  }

  /** The evolutions a pool holds of one uuid, ascending. */
  evolutions(uuid: string, options: PoolOption = {}): Promise<number[]> {
    return track((async () => {
      const pool = this.pool(options.pool);
      const out: number[] = [];
      let after: string | undefined;
      do {
        const page = await pool.list({ prefix: `${uuid}:`, after, limit: 1000 });
        for (const key of page.keys) out.push(parseGlobalId(key).evolution);
        if (out.length > 1_000_000) break;
        after = page.next;
      } while (after !== undefined);
      return out.sort((a, b) => a - b);
    })());
  }

  /** A page of the ids a pool holds. */
  list(options: ListOptions & PoolOption = {}): Promise<KeyPage> {
    const { pool, ...rest } = options;
    return track(this.pool(pool).list(rest));
  }

  /**
   * Store a manifest: the entries at the tree's leaves first (so a manifest
   * never names what is not there yet), then the blueprint. With a nickname,
   * storing other content under it makes the next evolution; storing the
   * same content again returns the stored one.
   */
  putManifest(
    tree: EntryTree,
    options: PoolOption & { nickname?: string } = {},
  ): Promise<Manifest> {
    return track((async () => {
      const pool = this.pool(options.pool);
      const { blueprint, entries } = blueprintOf(tree);
      for (let i = 0; i < entries.length; i += 1000) {
        await this.memorize(entries.slice(i, i + 1000), { pool: pool.name });
      }
      const uuid = options.nickname !== undefined
        ? manifestUuid(options.nickname)
        : crypto.randomUUID();
      const latest = await this.#latest(pool, uuid);
      if (latest !== undefined) {
        const current = await this.#read(pool, globalId(uuid, latest));
        if (current && sameValue(current.value, blueprint)) return asManifest(current);
      }
      const entry = new Entry({
        uuid,
        evolution: latest === undefined ? 0 : latest + 1,
        kind: "manifest",
        value: blueprint,
        nickname: options.nickname,
      });
      await this.#memorizeOne(pool, entry, {});
      return asManifest(entry);
    })());
  }

  /** Read a manifest by id, or by nickname (its latest evolution unless one is given). */
  getManifest(ref: EntryRef, options: PoolOption = {}): Promise<Manifest> {
    return track((async () => {
      const pool = this.pool(options.pool);
      const id = await this.#exactId(pool, ref, false, "manifest");
      const entry = await this.#read(pool, id);
      if (!entry) {
        throw new RoamError("not_found", `pool "${pool.name}" holds no manifest ${id}`, { id });
      }
      if (entry.kind !== "manifest") {
        throw new RoamError("invalid_input", `${id} is a ${entry.kind} entry, not a manifest`, {
          id,
        });
      }
      return asManifest(entry);
    })());
  }

  /** Read every entry a manifest names, in one batch, as the blueprint's tree. */
  recall(manifest: Manifest | EntryRef, options: PoolOption = {}): Promise<RecalledTree> {
    return track((async () => {
      const m = isManifest(manifest) ? manifest : await this.getManifest(manifest, options);
      const ids = leafIds(m.blueprint);
      const entries: Entry[] = [];
      for (let i = 0; i < ids.length; i += 1000) {
        entries.push(...await this.remember(ids.slice(i, i + 1000), options));
      }
      return fillBlueprint(m.blueprint, new Map(entries.map((e) => [e.id, e])));
    })());
  }

  /** Forget a manifest and, unless `leaves` is false, every entry it names. */
  forgetManifest(
    ref: Manifest | EntryRef,
    options: PoolOption & { leaves?: boolean } = {},
  ): Promise<number> {
    return track((async () => {
      const m = isManifest(ref) ? ref : await this.getManifest(ref, options);
      const leaves = options.leaves === false
        ? 0
        : await this.#forgetAll(leafIds(m.blueprint), options);
      return leaves + await this.forget(m.id, options);
    })());
  }

  /** Copy every record of one pool into another (records as they are). */
  copy(from: string, to: string, options: CopyOptions = {}): Promise<CopyProgress> {
    return track(copyPool(this.pool(from), this.pool(to), options));
  }

  /** Each pool's counters. */
  stats(): {
    name: string;
    kind: Pool["kind"];
    default: boolean;
    stats: ReturnType<Pool["stats"]>;
  }[] {
    return Object.values(this.#pools).map((p) => ({
      name: p.name,
      kind: p.kind,
      default: p.name === this.#default,
      stats: p.stats(),
    }));
  }

  /** Close every pool. */
  async close(): Promise<void> {
    for (const pool of Object.values(this.#pools)) await pool.close?.();
  }

  async #forgetAll(ids: string[], options: PoolOption): Promise<number> {
    let n = 0;
    for (let i = 0; i < ids.length; i += 1000) {
      n += await this.forget(ids.slice(i, i + 1000), options);
    }
    return n;
  }

  async #memorizeOne(pool: Pool, entry: Entry, options: MemorizeOptions): Promise<string> {
    if (!(entry instanceof Entry)) {
      throw new RoamError(
        "invalid_input",
        "memorize takes entries made with constant(), variable() or evolve()",
      );
    }
    const size = serializeValue(entry.value).bytes.length;
    if (size > this.#maxValue) {
      throw new RoamError(
        "too_large",
        `entry ${entry.id} holds ${size} bytes, more than ${this.#maxValue}`,
        {
          id: entry.id,
          size,
        },
      );
    }
    const record = await encodeRecord(entry, {
      transforms: this.#transforms,
      keys: this.#keys,
      keyId: this.#keyId,
    });
    if (options.overwrite) {
      await pool.put(entry.id, record);
      return entry.id;
    }
    // Write once: an atomic create where the pool has one, else look first.
    if (pool.create) {
      if (await pool.create(entry.id, record)) return entry.id;
    } else if (!(await pool.has(entry.id))) {
      await pool.put(entry.id, record);
      return entry.id;
    }
    const current = await this.#read(pool, entry.id);
    if (!current) {
      await pool.put(entry.id, record); // forgotten meanwhile
      return entry.id;
    }
    if (current.kind === entry.kind && sameValue(current.value, entry.value)) return entry.id;
    throw new RoamError(
      "conflict",
      `pool "${pool.name}" already holds other content as ${entry.id}; evolve() the entry for a new version, or forget it first`,
      { id: entry.id, pool: pool.name },
    );
  }

  async #read(pool: Pool, id: string): Promise<Entry | null> {
    const record = await pool.get(id);
    if (!record) return null;
    return await decodeRecord(record, {
      requireEncrypted: this.#transforms.includes("aes-256-gcm"),
      keys: this.#keys,
      expectId: id,
      maxValueBytes: this.#maxValue,
    });
  }

  async #latest(pool: Pool, uuid: string): Promise<number | undefined> {
    const all = await this.evolutions(uuid, { pool: pool.name });
    return all.length ? all[all.length - 1] : undefined;
  }

  async #exactId(pool: Pool, ref: EntryRef, missingOk: true): Promise<string | null>;
  async #exactId(
    pool: Pool,
    ref: EntryRef,
    missingOk?: false,
    kind?: "entry" | "manifest",
  ): Promise<string>;
  async #exactId(
    pool: Pool,
    ref: EntryRef,
    missingOk = false,
    kind: "entry" | "manifest" = "entry",
  ): Promise<string | null> {
    const resolved = resolveRef(ref, kind);
    if ("id" in resolved) return resolved.id;
    const latest = await this.#latest(pool, resolved.uuid);
    if (latest === undefined) {
      if (missingOk) return null;
      throw new RoamError(
        "not_found",
        `pool "${pool.name}" holds no ${kind} ${
          typeof ref === "object" && "nickname" in ref
            ? `nicknamed "${ref.nickname}"`
            : resolved.uuid
        }`,
        { uuid: resolved.uuid, pool: pool.name },
      );
    }
    return globalId(resolved.uuid, latest);
  }
}

function asManifest(entry: Entry): Manifest {
  return { entry, id: entry.id, blueprint: checkBlueprint(entry.value) };
}

function isManifest(value: unknown): value is Manifest {
  return typeof value === "object" && value !== null && "blueprint" in value && "entry" in value;
}

function sameValue(a: unknown, b: unknown): boolean {
  const x = serializeValue(a as Entry["value"]);
  const y = serializeValue(b as Entry["value"]);
  return x.type === y.type && x.bytes.length === y.bytes.length &&
    x.bytes.every((v, i) => v === y.bytes[i]);
}

function checkCount(n: number): void {
  if (n > MAX_ENTRIES_PER_CALL) {
    throw new RoamError(
      "too_large",
      `at most ${MAX_ENTRIES_PER_CALL} entries per call, got ${n}; split it`,
      {
        count: n,
      },
    );
  }
}

/** Run `fn` over `items` with at most `limit` in flight; results in order; the first failure rejects. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
