import { z } from "zod";
import { defineMethod } from "../rpc/mod.ts";

const Uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, {
  message: "a lowercase UUID",
});
const GlobalId = z.string().regex(
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:(0|[1-9][0-9]{0,14})$/,
  { message: "an entry id, UUID:EVOLUTION" },
);
const Nickname = z.string().min(1).max(256);
const PoolName = z.string().min(1).max(64).describe(
  "a pool name (see memory.pools); default the host's default pool",
);
const Evolution = z.union([z.number().int().min(0), z.literal("latest")]);
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, { message: "64 lowercase hex digits" });

/** An entry's value on the wire: JSON data, or bytes in base64. */
export const WireValueSchema = z.union([
  z.object({ json: z.unknown() }).strict(),
  z.object({ bytes: z.string().max(16 * 1024 * 1024).describe("base64") }).strict(),
]);

/** An entry on the wire. */
export const WireEntrySchema = z.object({
  id: GlobalId,
  kind: z.enum(["constant", "variable", "manifest"]),
  nickname: Nickname.optional(),
  createdAt: z.string().optional(),
  value: WireValueSchema,
}).strict();

/** A reference to an entry: its id, or a nickname or uuid (the latest evolution unless one is given). */
export const WireRefSchema = z.union([
  GlobalId,
  z.object({ nickname: Nickname, evolution: Evolution.optional(), namespace: Uuid.optional() })
    .strict(),
  z.object({ uuid: Uuid, evolution: Evolution.optional() }).strict(),
]);

/** A nested blueprint of entry ids. */
export const WireBlueprintSchema: z.ZodType<unknown> = z.record(z.string(), z.unknown());

const PoolKindSchema = z.enum(["memory", "local", "peer", "s3", "chain"]);
const PoolStatsSchema = z.object({
  hits: z.number(),
  misses: z.number(),
  puts: z.number(),
  deletes: z.number(),
  entries: z.number().optional(),
  bytes: z.number().optional(),
});

/** One pool and its counters (a chain's also per tier, fastest first). */
export const PoolSummarySchema = z.object({
  name: z.string(),
  kind: PoolKindSchema,
  default: z.boolean(),
  stats: PoolStatsSchema.extend({
    tiers: z.array(z.object({ name: z.string(), kind: PoolKindSchema, stats: PoolStatsSchema }))
      .optional(),
  }),
});

/** `memory.memorize`: store entries. */
export const memoryMemorize = defineMethod({
  name: "memory.memorize",
  summary:
    "Store entries in a pool (write-once per id: other content under a stored id is a conflict unless overwrite).",
  params: z.object({
    entries: z.array(WireEntrySchema).min(1).max(1000),
    pool: PoolName.optional(),
    overwrite: z.boolean().optional(),
  }).strict(),
  result: z.object({ ids: z.array(GlobalId) }),
  timeoutMs: 300_000,
});

/** `memory.remember`: read entries. */
export const memoryRemember = defineMethod({
  name: "memory.remember",
  summary:
    "Read entries by id, nickname or uuid (latest evolution unless given); a missing one is not_found.",
  params: z.object({ refs: z.array(WireRefSchema).min(1).max(1000), pool: PoolName.optional() })
    .strict(),
  result: z.object({
    entries: z.array(WireEntrySchema),
    truncated: z.boolean().optional().describe(
      "the reply holds only the first entries (about 32 MiB of values); ask again for the rest",
    ),
  }),
  timeoutMs: 300_000,
});

/** `memory.forget`: remove entries. */
export const memoryForget = defineMethod({
  name: "memory.forget",
  summary: "Remove entries from a pool; returns how many were there.",
  params: z.object({ refs: z.array(WireRefSchema).min(1).max(1000), pool: PoolName.optional() })
    .strict(),
  result: z.object({ forgotten: z.number().int() }),
  timeoutMs: 300_000,
});

/** `memory.evolutions`: the versions of one entry. */
export const memoryEvolutions = defineMethod({
  name: "memory.evolutions",
  summary: "The evolutions a pool holds of one entry (by uuid or nickname), ascending.",
  params: z.object({
    uuid: Uuid.optional(),
    nickname: Nickname.optional(),
    manifest: z.boolean().optional().describe("the nickname names a manifest"),
    pool: PoolName.optional(),
  }).strict().refine((p) => (p.uuid === undefined) !== (p.nickname === undefined), {
    message: "give a uuid or a nickname",
  }),
  result: z.object({ uuid: Uuid, evolutions: z.array(z.number().int()) }),
});

/** `memory.list`: a page of ids. */
export const memoryList = defineMethod({
  name: "memory.list",
  summary: "A page of the entry ids a pool holds, ascending; pass next as after for the next page.",
  params: z.object({
    pool: PoolName.optional(),
    prefix: z.string().max(64).optional(),
    after: z.string().max(64).optional(),
    limit: z.number().int().min(1).max(10_000).optional(),
  }).strict(),
  result: z.object({ keys: z.array(z.string()), next: z.string().optional() }),
});

/** `memory.manifestPut`: store a manifest's blueprint (its entries already stored). */
export const memoryManifestPut = defineMethod({
  name: "memory.manifestPut",
  summary:
    "Store a manifest (a nested blueprint of entry ids, all of which must be in the pool); a nickname's new content makes its next evolution.",
  params: z.object({
    blueprint: WireBlueprintSchema,
    nickname: Nickname.optional(),
    pool: PoolName.optional(),
  }).strict(),
  result: z.object({ id: GlobalId, blueprint: WireBlueprintSchema }),
  timeoutMs: 300_000,
});

/** `memory.manifestGet`: read a manifest's blueprint. */
export const memoryManifestGet = defineMethod({
  name: "memory.manifestGet",
  summary: "Read a manifest by id or nickname (latest evolution unless given).",
  params: z.object({ ref: WireRefSchema, pool: PoolName.optional() }).strict(),
  result: z.object({
    id: GlobalId,
    nickname: z.string().optional(),
    createdAt: z.string().optional(),
    blueprint: WireBlueprintSchema,
  }),
});

/** `memory.pools`: the host's pools. */
export const memoryPools = defineMethod({
  name: "memory.pools",
  summary:
    "The host's memory pools with their hit, miss, put and delete counters (per tier for chains).",
  params: z.object({}).strict(),
  result: z.object({ pools: z.array(PoolSummarySchema) }),
});

/** `memory.copy`: copy a whole pool. */
export const memoryCopy = defineMethod({
  name: "memory.copy",
  summary:
    "Copy every record of one pool into another (records as stored); skips ids the target has.",
  params: z.object({
    from: PoolName,
    to: PoolName,
    overwrite: z.boolean().optional(),
    after: z.string().max(64).optional().describe("resume after this id (a previous call's next)"),
    limit: z.number().int().min(1).max(1_000_000).optional().describe(
      "copy at most this many ids, then answer with next (for progress and resuming)",
    ),
  }).strict(),
  result: z.object({
    copied: z.number(),
    skipped: z.number(),
    bytes: z.number(),
    seen: z.number(),
    next: z.string().optional().describe("more ids remain: call again with after = next"),
  }),
  timeoutMs: 3_600_000,
});

/** `memory.recordGet`: where records are (for peer pools). */
export const memoryRecordGet = defineMethod({
  name: "memory.recordGet",
  summary: "Peer pools: the blob (sha256, size) each key of a local pool maps to, or null.",
  params: z.object({ pool: PoolName, keys: z.array(z.string().max(64)).min(1).max(256) }).strict(),
  result: z.object({
    records: z.array(z.object({ key: z.string(), sha256: Sha256, size: z.number() }).nullable()),
  }),
});

/** `memory.recordLink`: point a key at an uploaded blob (for peer pools). */
export const memoryRecordLink = defineMethod({
  name: "memory.recordLink",
  summary:
    "Peer pools: map a key of a local pool to a blob already uploaded (PUT /artifacts), pinning it.",
  params: z.object({
    pool: PoolName,
    key: GlobalId,
    sha256: Sha256,
    size: z.number().int().min(0),
  }).strict(),
  result: z.object({ ok: z.literal(true) }),
});

/** `memory.recordDelete`: drop keys (for peer pools). */
export const memoryRecordDelete = defineMethod({
  name: "memory.recordDelete",
  summary: "Peer pools: remove keys from a local pool, unpinning their blobs.",
  params: z.object({ pool: PoolName, keys: z.array(z.string().max(64)).min(1).max(256) }).strict(),
  result: z.object({ deleted: z.number().int() }),
});

/** `memory.recordList`: list keys (for peer pools). */
export const memoryRecordList = defineMethod({
  name: "memory.recordList",
  summary: "Peer pools: a page of the keys of a local pool.",
  params: z.object({
    pool: PoolName,
    prefix: z.string().max(64).optional(),
    after: z.string().max(64).optional(),
    limit: z.number().int().min(1).max(10_000).optional(),
  }).strict(),
  result: z.object({ keys: z.array(z.string()), next: z.string().optional() }),
});

/** `config.export`: store the host's configuration as a manifest. */
export const configExport = defineMethod({
  name: "config.export",
  summary:
    "Store this host's configuration (no secrets) and its plugin list as a manifest with a nickname, for 'roam host --from-manifest'.",
  params: z.object({
    pool: PoolName.optional(),
    nickname: Nickname.optional().describe("default host-config:<host name>"),
  }).strict(),
  result: z.object({ id: GlobalId, nickname: z.string(), pool: z.string() }),
});
