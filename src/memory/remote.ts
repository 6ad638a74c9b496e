import type { RoamClient } from "../client/mod.ts";
import type { CallOptions } from "../rpc/mod.ts";
import { RoamError } from "../errors/mod.ts";
import type { Entry, EntryRef } from "./entry.ts";
import { track } from "./guarantee.ts";
import {
  type Blueprint,
  blueprintOf,
  type EntryTree,
  fillBlueprint,
  leafIds,
  type RecalledTree,
} from "./manifest.ts";
import type { Manifest, MemorizeOptions, PoolOption } from "./memory.ts";
import type { CopyProgress } from "./pools/copy.ts";
import { fromWire, toWire, type WireEntry, wireSize } from "./wire.ts";

/** Most entries per call, and about most bytes per call (under the host's request limit). */
const BATCH = { entries: 256, bytes: 4 * 1024 * 1024 } as const;

/** The `memory.*` and `config.*` methods a {@linkcode RemoteMemory} needs. */
type Caller = Pick<RoamClient, "call">;

/**
 * A host's memory, for scripts: the same operations as `Memory`, over RPC.
 * Many entries go in batches under the host's request limit; every
 * operation registers with the enclosing `guarantee` scope.
 *
 * @example
 * const mesh = await connect();
 * const memory = openMemory(mesh);
 * await guarantee(async () => {
 *   memory.memorize(constant({ lr: 0.1 }, { nickname: "cfg" }));
 * });
 * console.log((await memory.remember({ nickname: "cfg" })).value);
 */
export class RemoteMemory {
  readonly #client: Caller;
  readonly #options?: CallOptions;

  /** Memory of the host `client` talks to. */
  constructor(client: Caller, options?: CallOptions) {
    this.#client = client;
    this.#options = options;
  }

  /** Store one entry; resolves to its id. */
  memorize(entry: Entry, options?: MemorizeOptions): Promise<string>;
  /** Store many entries (batched); resolves to their ids in order. */
  memorize(entries: Entry[], options?: MemorizeOptions): Promise<string[]>;
  memorize(entries: Entry | Entry[], options: MemorizeOptions = {}): Promise<string | string[]> {
    const many = Array.isArray(entries);
    return track((async () => {
      const wire = (many ? entries : [entries]).map(toWire);
      const ids: string[] = [];
      for (const batch of batches(wire)) {
        const r = await this.#client.call(
          "memory.memorize",
          { entries: batch, ...options },
          this.#options,
        );
        ids.push(...r.ids);
      }
      return many ? ids : ids[0];
    })());
  }

  /** Read one entry. */
  remember(ref: EntryRef, options?: PoolOption): Promise<Entry>;
  /** Read many entries, in order (batched). */
  remember(refs: EntryRef[], options?: PoolOption): Promise<Entry[]>;
  remember(refs: EntryRef | EntryRef[], options: PoolOption = {}): Promise<Entry | Entry[]> {
    const many = Array.isArray(refs);
    return track((async () => {
      const list = many ? refs : [refs];
      const out: Entry[] = [];
      while (out.length < list.length) {
        const r = await this.#client.call(
          "memory.remember",
          { refs: list.slice(out.length, out.length + BATCH.entries) as never, ...options },
          this.#options,
        );
        if (r.entries.length === 0) {
          throw new RoamError("internal", "memory.remember answered no entries");
        }
        out.push(...r.entries.map((w) => fromWire(w as WireEntry)));
      }
      return many ? out : out[0];
    })());
  }

  /** Remove entries; resolves to how many were there. */
  forget(refs: EntryRef | EntryRef[], options: PoolOption = {}): Promise<number> {
    return track((async () => {
      const list = Array.isArray(refs) ? refs : [refs];
      let n = 0;
      for (let i = 0; i < list.length; i += BATCH.entries) {
        const r = await this.#client.call(
          "memory.forget",
          { refs: list.slice(i, i + BATCH.entries) as never, ...options },
          this.#options,
        );
        n += r.forgotten;
      }
      return n;
    })());
  }

  /** The evolutions the pool holds of one entry (by uuid or nickname). */
  evolutions(
    ref: { uuid: string } | { nickname: string },
    options: PoolOption = {},
  ): Promise<number[]> {
    return track(
      this.#client.call("memory.evolutions", { ...ref, ...options }, this.#options).then((r) =>
        r.evolutions
      ),
    );
  }

  /** A page of ids. */
  list(options: PoolOption & { prefix?: string; after?: string; limit?: number } = {}) {
    return track(this.#client.call("memory.list", options, this.#options));
  }

  /** Store a manifest: its entries first (batched), then the blueprint. */
  putManifest(
    tree: EntryTree,
    options: PoolOption & { nickname?: string } = {},
  ): Promise<Omit<Manifest, "entry">> {
    return track((async () => {
      const { blueprint, entries } = blueprintOf(tree);
      if (entries.length) await this.memorize(entries, { pool: options.pool });
      const r = await this.#client.call(
        "memory.manifestPut",
        { blueprint, ...options },
        this.#options,
      );
      return { id: r.id, blueprint: r.blueprint as Blueprint };
    })());
  }

  /** Read a manifest's blueprint by id or nickname. */
  getManifest(
    ref: EntryRef,
    options: PoolOption = {},
  ): Promise<Omit<Manifest, "entry"> & { nickname?: string }> {
    return track(
      this.#client.call("memory.manifestGet", { ref: ref as never, ...options }, this.#options)
        .then((r) => ({
          id: r.id,
          nickname: r.nickname,
          blueprint: r.blueprint as Blueprint,
        })),
    );
  }

  /** Read every entry a manifest names, as its tree. */
  recall(
    ref: EntryRef | { blueprint: Blueprint },
    options: PoolOption = {},
  ): Promise<RecalledTree> {
    return track((async () => {
      const m = typeof ref === "object" && "blueprint" in ref
        ? ref
        : await this.getManifest(ref, options);
      const entries = await this.remember(leafIds(m.blueprint), options);
      return fillBlueprint(m.blueprint, new Map(entries.map((e) => [e.id, e])));
    })());
  }

  /** The host's pools and their counters. */
  pools() {
    return track(this.#client.call("memory.pools", {}, this.#options).then((r) => r.pools));
  }

  /**
   * Copy a whole pool into another, on the host, `pageSize` ids per call,
   * reporting progress after each call.
   */
  copy(
    from: string,
    to: string,
    options: { overwrite?: boolean; pageSize?: number; onProgress?: (p: CopyProgress) => void } =
      {},
  ): Promise<CopyProgress> {
    return track((async () => {
      const total: CopyProgress = { copied: 0, skipped: 0, bytes: 0, seen: 0 };
      let after: string | undefined;
      do {
        const r = await this.#client.call("memory.copy", {
          from,
          to,
          overwrite: options.overwrite,
          after,
          limit: options.pageSize ?? 1000,
        }, { timeoutMs: 3_600_000 });
        total.copied += r.copied;
        total.skipped += r.skipped;
        total.bytes += r.bytes;
        total.seen += r.seen;
        after = r.next;
        options.onProgress?.({ ...total });
      } while (after !== undefined);
      return total;
    })());
  }
}

function* batches(wire: WireEntry[]): Generator<WireEntry[]> {
  let batch: WireEntry[] = [];
  let bytes = 0;
  for (const w of wire) {
    const size = wireSize(w);
    if (size > 8 * 1024 * 1024) {
      throw new RoamError(
        "too_large",
        `entry ${w.id} is too big to send in one request (${size} bytes encoded); store large data as an artifact and keep its sha256 in the entry`,
        { id: w.id, size },
      );
    }
    if (batch.length && (batch.length >= BATCH.entries || bytes + size > BATCH.bytes)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(w);
    bytes += size;
  }
  if (batch.length) yield batch;
}

/** Memory of the host a client talks to. */
export function openMemory(client: Caller, options?: CallOptions): RemoteMemory {
  return new RemoteMemory(client, options);
}
