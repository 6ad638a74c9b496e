import {
  configExport,
  memoryCopy,
  memoryEvolutions,
  memoryForget,
  memoryList,
  memoryManifestGet,
  memoryManifestPut,
  memoryMemorize,
  memoryPools,
  memoryRecordDelete,
  memoryRecordGet,
  memoryRecordLink,
  memoryRecordList,
  memoryRemember,
} from "../api/memory.ts";
import { RoamError } from "../errors/mod.ts";
import { implement, type MethodImpl } from "../rpc/mod.ts";
import { configNickname, type ConfigSnapshot, exportConfig } from "./config_snapshot.ts";
import type { EntryRef } from "./entry.ts";
import type { HostMemory } from "./host_memory.ts";
import { manifestUuid, nicknameUuid } from "./identity.ts";
import { type Blueprint, checkBlueprint, leafIds } from "./manifest.ts";
import { mapLimit } from "./memory.ts";
import { ChainPool } from "./pools/chain.ts";
import { fromWire, toWire, type WireEntry, wireSize } from "./wire.ts";

/** About the most bytes of values one `memory.remember` reply carries. */
const MAX_REPLY_BYTES = 32 * 1024 * 1024;

/** What the `config.export` method needs from the host. */
export interface ConfigSource {
  /** The host's name (for the default nickname). */
  hostName: string;
  /** The configuration, plugin list and plugin code to store. */
  snapshot(): ConfigSnapshot | Promise<ConfigSnapshot>;
}

/** The `memory.*` and `config.export` methods, served from a host's memory. */
export function memoryMethods(host: HostMemory, source: ConfigSource): MethodImpl[] {
  const { memory } = host;
  const local = (name: string) => {
    const pool = host.locals.get(name);
    if (!pool) {
      throw new RoamError(
        "not_found",
        `no local pool "${name}" on this host; peers can use ${[...host.locals.keys()].join(", ")}`,
        { pool: name },
      );
    }
    return pool;
  };
  // A peer changed a local pool underneath the chain that fronts it: no tier may keep a stale copy.
  const dropCached = async (name: string, key: string) => {
    const chain = memory.poolNames.includes(name) ? memory.pool(name) : undefined;
    if (chain instanceof ChainPool) {
      for (const tier of chain.tiers.slice(0, -1)) await tier.delete(key);
    }
  };
  return [
    implement(memoryMemorize, async ({ entries, pool, overwrite }) => ({
      ids: await memory.memorize(entries.map(fromWire), { pool, overwrite }),
    })),
    implement(memoryRemember, async ({ refs, pool }) => {
      // Read in small batches and stop once the reply is big enough: a reply stays bounded.
      const entries: WireEntry[] = [];
      let bytes = 0;
      for (let i = 0; i < refs.length; i += 16) {
        const got = await memory.remember(refs.slice(i, i + 16) as EntryRef[], { pool });
        for (const entry of got) {
          const size = wireSize(toWire(entry));
          if (entries.length && bytes + size > MAX_REPLY_BYTES) return { entries, truncated: true };
          entries.push(toWire(entry));
          bytes += size;
        }
      }
      return { entries };
    }),
    implement(memoryForget, async ({ refs, pool }) => ({
      forgotten: await memory.forget(refs as EntryRef[], { pool }),
    })),
    implement(memoryEvolutions, async ({ uuid, nickname, manifest, pool }) => {
      const id = uuid ?? (manifest ? manifestUuid(nickname!) : nicknameUuid(nickname!));
      return { uuid: id, evolutions: await memory.evolutions(id, { pool }) };
    }),
    implement(memoryList, ({ pool, ...options }) => memory.list({ pool, ...options })),
    implement(memoryManifestPut, async ({ blueprint, nickname, pool }) => {
      const checked = checkBlueprint(blueprint);
      const target = memory.pool(pool);
      const ids = leafIds(checked);
      const present = await mapLimit(ids, 8, (id) => target.has(id));
      const missing = ids.filter((_, i) => !present[i]);
      if (missing.length) {
        throw new RoamError(
          "not_found",
          `the manifest names ${missing.length} entries pool "${target.name}" does not hold (${
            missing.slice(0, 3).join(", ")
          }); memorize them first`,
          { missing: missing.slice(0, 100) },
        );
      }
      const m = await memory.putManifest(checked, { nickname, pool });
      return { id: m.id, blueprint: m.blueprint };
    }),
    implement(memoryManifestGet, async ({ ref, pool }) => {
      const m = await memory.getManifest(ref as EntryRef, { pool });
      return {
        id: m.id,
        ...(m.entry.nickname !== undefined ? { nickname: m.entry.nickname } : {}),
        ...(m.entry.createdAt !== undefined ? { createdAt: m.entry.createdAt } : {}),
        blueprint: m.blueprint as Blueprint,
      };
    }),
    implement(memoryPools, () => ({ pools: memory.stats() })),
    implement(
      memoryCopy,
      async ({ from, to, overwrite, after, limit }, ctx) =>
        await memory.copy(from, to, { overwrite, signal: ctx.signal, after, maxKeys: limit }),
    ),
    implement(memoryRecordGet, ({ pool, keys }) => {
      const p = local(pool);
      return { records: keys.map((key) => p.lookup(key) ?? null) };
    }),
    implement(memoryRecordLink, async ({ pool, key, sha256, size }) => {
      const p = local(pool);
      await dropCached(pool, key);
      await p.link({ key, sha256, size });
      return { ok: true as const };
    }),
    implement(memoryRecordDelete, async ({ pool, keys }) => {
      const p = local(pool);
      let deleted = 0;
      for (const key of keys) {
        await dropCached(pool, key);
        if (await p.delete(key)) deleted++;
      }
      return { deleted };
    }),
    implement(memoryRecordList, ({ pool, ...options }) => local(pool).list(options)),
    implement(
      configExport,
      async ({ pool, nickname }) =>
        await exportConfig(memory, await source.snapshot(), {
          nickname: nickname ?? configNickname(source.hostName),
          pool,
        }),
    ),
  ];
}
