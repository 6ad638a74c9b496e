import { z } from "zod";
import { defineMethod } from "../rpc/mod.ts";

const HostName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, {
  message: "a host name is 1 to 63 letters, digits, '.', '_' or '-'",
});
const State = z.enum(["alive", "suspect", "dead", "left"]);

/** A GPU of a host: its name, total and free memory in MB. */
export const GpuSchema = z.object({
  name: z.string().max(256),
  memoryTotalMb: z.number().int().min(0),
  memoryFreeMb: z.number().int().min(0),
});

/** A member as hosts exchange it over HTTP: who, where, which incarnation, in what state. */
export const MeshMemberSchema = z.object({
  id: z.string().min(1).max(64),
  name: HostName,
  url: z.string().min(1).max(256).regex(/^https?:\/\/[^\s/]+(?:\/[^\s]*)?$/, {
    message: "a member URL is http(s)://HOST:PORT, with a path only for a relay URL",
  }),
  gossipPort: z.number().int().min(1).max(65535),
  epoch: z.number().int().min(0).max(0xffff_ffff),
  incarnation: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  state: State,
}).strict();

/** A host's full record, as it states it itself (larger than one gossip packet may carry). */
export const MeshRecordSchema = z.object({
  id: z.string().min(1).max(64),
  name: HostName,
  urls: z.array(z.string().max(256)).max(64),
  version: z.string().max(64),
  tags: z.array(z.string().max(64)).max(64),
  properties: z.record(z.string().max(64), z.string().max(1024)),
  load: z.array(z.number()).max(3).describe("load averages over 1, 5 and 15 minutes"),
  freeRamMb: z.number().int().min(0).describe("available RAM, MB"),
  totalRamMb: z.number().int().min(0),
  gpus: z.array(GpuSchema).max(16),
  gossipPort: z.number().int().min(1).max(65535),
  epoch: z.number().int().min(0),
  incarnation: z.number().int().min(0),
});

/** A host of the mesh as this host sees it. */
export const MeshHostSchema = z.object({
  id: z.string(),
  name: z.string(),
  state: State,
  self: z.boolean().describe("true for the host that answered"),
  url: z.string().describe("its primary URL"),
  urls: z.array(z.string()),
  version: z.string().nullable().describe("null until its record has been fetched"),
  tags: z.array(z.string()),
  properties: z.record(z.string(), z.string()),
  load: z.array(z.number()).nullable(),
  freeRamMb: z.number().nullable(),
  totalRamMb: z.number().nullable(),
  gpus: z.array(GpuSchema),
  epoch: z.number().int(),
  incarnation: z.number().int(),
  gossip: z.string().describe("HOST:PORT of its unicast gossip socket"),
  stateSince: z.string().describe("when it entered its state (ISO 8601)"),
  lastSeen: z.string().nullable().describe("when it was last heard from directly (ISO 8601)"),
  lastSeenAgoMs: z.number().nullable().describe("how long ago that was, by this host's clock"),
});

/** Packet, probe and member counters of the mesh. */
export const MeshStatsSchema = z.object({
  enabled: z.boolean(),
  gossip: z.object({ address: z.string().nullable(), port: z.number().int().nullable() }),
  multicast: z.object({
    enabled: z.boolean().describe("asked for (not --no-multicast)"),
    active: z.boolean().describe("joined on at least one LAN interface now"),
    group: z.string(),
    interfaces: z.array(z.string()),
  }),
  keys: z.object({
    current: z.string(),
    previous: z.string().nullable(),
    next: z.string().nullable(),
  }),
  packets: z.object({
    received: z.number().int(),
    accepted: z.number().int(),
    sent: z.number().int(),
    sendErrors: z.number().int(),
    bytesIn: z.number().int(),
    bytesOut: z.number().int(),
  }),
  dropped: z.object({
    oversized: z.number().int(),
    malformed: z.number().int(),
    version: z.number().int(),
    unknownKey: z.number().int(),
    auth: z.number().int(),
    invalid: z.number().int(),
    replayed: z.number().int(),
    stale: z.number().int(),
    foreign: z.number().int().describe("packets claiming this host's own id from another process"),
    full: z.number().int().describe("news about new members while the table was full"),
  }),
  probes: z.object({
    sent: z.number().int(),
    acked: z.number().int(),
    indirect: z.number().int(),
    suspected: z.number().int(),
    refuted: z.number().int().describe("times this host refuted its own suspicion"),
    declaredDead: z.number().int(),
  }),
  members: z.object({
    alive: z.number().int(),
    suspect: z.number().int(),
    dead: z.number().int(),
    left: z.number().int(),
  }),
  records: z.object({ fetched: z.number().int(), failed: z.number().int() }),
});

/** `mesh.hosts`: every host this host knows. */
export const meshHosts = defineMethod({
  name: "mesh.hosts",
  summary:
    "Every host of the mesh this host knows (itself first), with state, last seen, load, free RAM and GPUs.",
  params: z.object({ state: State.optional().describe("only hosts in this state") }).strict(),
  positional: ["state"],
  result: z.object({ hosts: z.array(MeshHostSchema) }),
});

/** `mesh.wait`: wait until a host is alive. */
export const meshWait = defineMethod({
  name: "mesh.wait",
  summary:
    "Resolve when the host with that name or id is alive in the mesh; timeout after timeoutMs.",
  params: z.object({
    host: z.string().min(1).max(256).describe("a host name or id"),
    timeoutMs: z.number().int().min(0).max(3_600_000).default(10_000),
  }).strict(),
  positional: ["host", "timeoutMs"],
  result: MeshHostSchema,
  timeoutMs: 3_610_000,
});

/** `mesh.stats`: counters. */
export const meshStats = defineMethod({
  name: "mesh.stats",
  summary:
    "Mesh counters: packets sent and received, packets dropped by reason, probes, members by state.",
  params: z.object({}).strict(),
  result: MeshStatsSchema,
});

/** `mesh.record`: this host's own full record. */
export const meshRecord = defineMethod({
  name: "mesh.record",
  summary:
    "This host's full record (URLs, version, tags, properties, load, RAM, GPUs); members fetch it when gossip says it changed.",
  params: z.object({}).strict(),
  result: MeshRecordSchema,
});

/** `mesh.sync`: exchange the member list (join through a peer, anti-entropy). */
export const meshSync = defineMethod({
  name: "mesh.sync",
  summary:
    "Exchange member lists: the caller states itself, the host answers with its record and every member it knows.",
  params: z.object({ from: MeshMemberSchema.optional() }).strict(),
  result: z.object({ self: MeshRecordSchema, members: z.array(MeshMemberSchema) }),
});

/** `mesh.rotate`: move the gossip key to the secret file's current contents. */
export const meshRotate = defineMethod({
  name: "mesh.rotate",
  summary:
    "Re-read the mesh secret file: with phase 'accept', also open packets sealed with its key; with 'use' (default), seal with it, still opening the previous key.",
  params: z.object({
    phase: z.enum(["accept", "use"]).default("use").describe(
      "for a mesh without a gap: 'accept' on every host first, then 'use' on every host",
    ),
  }).strict(),
  positional: ["phase"],
  result: z.object({
    changed: z.boolean().describe("false when the secret file holds the current key already"),
    current: z.string().describe("id of the key packets are sealed with"),
    previous: z.string().nullable().describe("id of the older key still accepted"),
    next: z.string().nullable().describe("id of a key accepted ahead of use"),
  }),
});
