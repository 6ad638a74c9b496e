import { z } from "zod";
import { defineMethod } from "../rpc/mod.ts";

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, {
  message: "a sha256 is 64 lowercase hex digits",
});
const Holder = z.string().regex(
  /^(user(:[A-Za-z0-9._@-]{1,128})?|(agent|entry|job):[A-Za-z0-9._:@/+=-]{1,400})$/,
  { message: "a holder is agent:<id>, entry:<id>, job:<id>, user or user:<name>" },
);
const HostRef = z.string().min(1).max(2048).describe(
  "a host URL, or the name or id of an alive host of the mesh",
);
const Iso = z.string().describe("an ISO 8601 time");

/** A pin as the API shows it. */
export const ArtifactPinSchema = z.object({
  holder: z.string(),
  name: z.string().nullable(),
  created: Iso,
});

/** A stored blob as the API shows it. */
export const ArtifactInfoSchema = z.object({
  sha256: z.string(),
  size: z.number().int(),
  created: Iso,
  owner: z.string().nullable(),
  name: z.string().nullable(),
  mediaType: z.string().nullable(),
  expires: Iso.nullable().describe("when it expires; null: never"),
  released: Iso.nullable().describe("when its last pin was removed; null while pinned or never"),
  pins: z.array(ArtifactPinSchema),
});

const Usage = z.object({
  usedBytes: z.number().int(),
  blobs: z.number().int(),
  quotaBytes: z.number().int(),
  maxBlobBytes: z.number().int(),
});

const Attempt = z.object({
  url: z.string(),
  ok: z.boolean(),
  code: z.string().optional(),
  message: z.string().optional(),
});

/** `artifact.list`: the blobs stored on this host. */
export const artifactList = defineMethod({
  name: "artifact.list",
  summary: "The blobs stored on this host (newest first) with their pins, and the store's usage.",
  params: z.object({
    owner: z.string().max(256).optional(),
    name: z.string().max(255).optional(),
    holder: Holder.optional().describe("only blobs this holder pins"),
    limit: z.number().int().min(1).max(1000).default(100),
    offset: z.number().int().min(0).default(0),
  }).strict(),
  result: z.object({ artifacts: z.array(ArtifactInfoSchema), usage: Usage }),
});

/** `artifact.stat`: one blob's metadata. */
export const artifactStat = defineMethod({
  name: "artifact.stat",
  summary: "One stored blob's size, names, expiry and pins; not_found when this host lacks it.",
  params: z.object({ sha256: Sha256 }).strict(),
  positional: ["sha256"],
  result: ArtifactInfoSchema,
});

/** `artifact.remove`: delete a blob now. */
export const artifactRemove = defineMethod({
  name: "artifact.remove",
  summary: "Delete a stored blob now; a pinned one is refused (conflict) unless force.",
  params: z.object({ sha256: Sha256, force: z.boolean().default(false) }).strict(),
  positional: ["sha256"],
  result: z.object({ removed: z.boolean().describe("false when it was not stored") }),
});

/** `artifact.pin`: keep a blob for a holder. */
export const artifactPin = defineMethod({
  name: "artifact.pin",
  summary:
    "Keep a blob from garbage collection for a holder; a pin by agent:<id> with a name makes it one of that agent's files, which travel with it.",
  params: z.object({
    sha256: Sha256,
    holder: Holder.default("user"),
    name: z.string().min(1).max(255).regex(/^[^/\\\0]+$/, {
      message: "a file name has no slashes",
    }).optional(),
  }).strict(),
  positional: ["sha256", "holder", "name"],
  result: z.object({ ok: z.literal(true) }),
});

/** `artifact.unpin`: drop a holder's pin. */
export const artifactUnpin = defineMethod({
  name: "artifact.unpin",
  summary:
    "Drop a holder's pin; a blob without pins is collected once the release grace period has passed.",
  params: z.object({ sha256: Sha256, holder: Holder.default("user") }).strict(),
  positional: ["sha256", "holder"],
  result: z.object({ removed: z.boolean().describe("false when there was no such pin") }),
});

/** `artifact.gc`: collect garbage now. */
export const artifactGc = defineMethod({
  name: "artifact.gc",
  summary:
    "Remove unpinned blobs that expired or were released more than the grace period ago, and stale temporary files; dryRun only lists them.",
  params: z.object({ dryRun: z.boolean().default(false) }).strict(),
  result: z.object({
    removed: z.array(z.object({
      sha256: z.string(),
      size: z.number().int(),
      reason: z.enum(["expired", "released"]),
    })),
    freedBytes: z.number().int(),
    parts: z.number().int(),
  }),
});

/** `artifact.locate`: who holds a blob. */
export const artifactLocate = defineMethod({
  name: "artifact.locate",
  summary: "Ask every alive host of the mesh (and this one) whether it holds a blob.",
  params: z.object({ sha256: Sha256 }).strict(),
  positional: ["sha256"],
  result: z.object({
    holders: z.array(z.object({
      id: z.string().nullable(),
      name: z.string().nullable(),
      url: z.string(),
      self: z.boolean(),
      size: z.number().int(),
    })),
    asked: z.number().int(),
    unreachable: z.array(z.string()),
  }),
  timeoutMs: 30_000,
});

/** `artifact.fetch`: pull a blob to this host. */
export const artifactFetch = defineMethod({
  name: "artifact.fetch",
  summary:
    "Pull a blob to this host from the hosts named (in order) or from the holders the mesh knows, checking its sha256; a damaged or broken download is retried from the next holder.",
  params: z.object({
    sha256: Sha256,
    from: z.union([HostRef, z.array(HostRef).max(64)]).optional().transform((v) =>
      typeof v === "string" ? [v] : v
    ),
    waitMs: z.number().int().min(0).max(120_000).default(0).describe(
      "how long a holder waits for the blob to start arriving there (replication pipelines)",
    ),
  }).strict(),
  positional: ["sha256", "from"],
  result: z.object({
    sha256: z.string(),
    size: z.number().int(),
    from: z.string().nullable(),
    already: z.boolean(),
    attempts: z.array(Attempt),
  }),
  timeoutMs: 6 * 3600_000,
});

/** `artifact.replicate`: spread a blob to many hosts. */
export const artifactReplicate = defineMethod({
  name: "artifact.replicate",
  summary:
    "Spread a blob from this host to others peer to peer: a pipeline in which each target downloads from the one before it while that one is still receiving, so this host sends about one copy.",
  params: z.object({
    sha256: Sha256,
    to: z.union([z.literal("all"), z.array(HostRef).min(1).max(256)]),
    fanout: z.number().int().min(1).max(16).default(1).describe(
      "targets each host serves: 1 is a chain, more a tree",
    ),
  }).strict(),
  positional: ["sha256", "to"],
  result: z.object({
    sha256: z.string(),
    size: z.number().int(),
    hosts: z.array(z.object({
      url: z.string(),
      ok: z.boolean(),
      from: z.string().nullable().optional(),
      already: z.boolean().optional(),
      error: z.object({ code: z.string(), message: z.string() }).optional(),
      ms: z.number(),
    })),
  }),
  timeoutMs: 6 * 3600_000,
});
