import { z } from "zod";
import { defineMethod } from "../rpc/mod.ts";

const NameSchema = z.string().min(1).max(64).describe("a plugin's name, like hello");
const RegistrySchema = z.string().min(1).max(2048).describe(
  "an http(s) or file URL of a registry index.json (or of its dir); default: the host's",
);
const Sha256Schema = z.string().regex(/^[0-9a-f]{64}$/);
const KindSchema = z.enum(["agent", "capability"]);
const ProgressIdSchema = z.string().min(1).max(64).describe(
  "an id of the caller's choosing; registry.progress reports the install under it",
);

/** Longest an install or update call may run (downloads have their own, shorter limit). */
export const REGISTRY_INSTALL_TIMEOUT_MS = 60 * 60_000;

/** A plugin as a registry offers it. */
export const RegistryPluginSchema = z.object({
  name: z.string(),
  kind: KindSchema,
  description: z.string(),
  latest: z.string().describe("the newest version in the index"),
  latestHere: z.string().nullable().describe(
    "the newest release that runs on this host's roam, if any",
  ),
  installed: z.string().nullable().describe("the version installed from this registry, if any"),
});

/** A plugin installed from a registry, as the host records it. */
export const InstallRecordSchema = z.object({
  name: z.string(),
  version: z.string(),
  kind: KindSchema,
  range: z.string().describe("the range asked for; update stays inside it"),
  sha256: Sha256Schema.describe("of the archive"),
  registry: z.string().describe("the index URL it came from"),
  installedAt: z.string(),
});

/** `registry.search`: plugins a registry offers. */
export const registrySearch = defineMethod({
  name: "registry.search",
  summary:
    "Plugins a registry offers whose name or description holds the text (all of them without one).",
  params: z.object({
    text: z.string().max(200).optional(),
    registry: RegistrySchema.optional(),
    acceptNewKey: z.boolean().default(false),
  }).strict(),
  positional: ["text"],
  result: z.object({
    registry: z.string(),
    key: z.string().nullable().describe("the publisher key that signed the index, if signed"),
    plugins: z.array(RegistryPluginSchema),
  }),
  timeoutMs: REGISTRY_INSTALL_TIMEOUT_MS,
});

/** `registry.info`: one plugin as a registry describes it. */
export const registryInfo = defineMethod({
  name: "registry.info",
  summary:
    "One plugin of a registry with every version: archive, size, sha256, permissions, environment, resources and the roam it needs.",
  params: z.object({
    name: NameSchema,
    registry: RegistrySchema.optional(),
    acceptNewKey: z.boolean().default(false),
  }).strict(),
  positional: ["name"],
  result: RegistryPluginSchema.extend({
    registry: z.string(),
    key: z.string().nullable(),
    versions: z.array(z.object({
      version: z.string(),
      description: z.string(),
      archive: z.object({ url: z.string(), sha256: Sha256Schema, size: z.number().int() }),
      minRoam: z.string(),
      permissions: z.record(z.string(), z.union([z.array(z.string()), z.boolean()])),
      environment: z.record(z.string(), z.unknown()).optional(),
      resources: z.record(z.string(), z.unknown()),
      runsHere: z.boolean(),
    })),
  }),
  timeoutMs: REGISTRY_INSTALL_TIMEOUT_MS,
});

/** `registry.install`: install a plugin from a registry on this host. */
export const registryInstall = defineMethod({
  name: "registry.install",
  summary:
    "Install a plugin from a registry: the newest version in the range that runs here, checked against the index's size and sha256, replacing the installed version only once the new one is in place.",
  params: z.object({
    name: NameSchema,
    range: z.string().min(1).max(256).optional().describe("a semver range; default the newest"),
    registry: RegistrySchema.optional(),
    acceptNewKey: z.boolean().default(false).describe(
      "take an index signed with a key other than the pinned one (or unsigned), and pin the new key",
    ),
    progressId: ProgressIdSchema.optional(),
  }).strict(),
  positional: ["name", "range"],
  result: InstallRecordSchema.extend({
    installed: z.boolean().describe("false when this exact version was installed already"),
    previous: z.string().optional().describe("the version it replaced"),
  }),
  timeoutMs: REGISTRY_INSTALL_TIMEOUT_MS,
});

/** `registry.update`: move installed plugins to the newest version in their range. */
export const registryUpdate = defineMethod({
  name: "registry.update",
  summary:
    "Update one plugin, or every plugin installed from a registry, to the newest version in the range it was installed with.",
  params: z.object({
    name: NameSchema.optional(),
    registry: RegistrySchema.optional().describe("use this index instead of each plugin's own"),
    acceptNewKey: z.boolean().default(false),
    progressId: ProgressIdSchema.optional(),
  }).strict(),
  positional: ["name"],
  result: z.object({
    updated: z.array(z.object({ name: z.string(), from: z.string(), to: z.string() })),
    current: z.array(z.object({ name: z.string(), version: z.string() })),
    heldBack: z.array(z.object({ name: z.string(), version: z.string(), minRoam: z.string() })),
    failed: z.array(z.object({ name: z.string(), code: z.string(), message: z.string() })),
  }),
  timeoutMs: REGISTRY_INSTALL_TIMEOUT_MS,
});

/** `registry.remove`: uninstall a plugin installed from a registry. */
export const registryRemove = defineMethod({
  name: "registry.remove",
  summary: "Uninstall a plugin that was installed from a registry, and forget where it came from.",
  params: z.object({ name: NameSchema }).strict(),
  positional: ["name"],
  result: InstallRecordSchema,
  timeoutMs: 120_000,
});

/** `registry.installed`: what this host installed from registries. */
export const registryInstalled = defineMethod({
  name: "registry.installed",
  summary: "Every plugin installed from a registry: version, kind, archive sha256, registry, when.",
  params: z.object({}).strict(),
  result: z.object({ plugins: z.array(InstallRecordSchema) }),
});

/** `registry.progress`: where an install in flight stands. */
export const registryProgress = defineMethod({
  name: "registry.progress",
  summary: "Where the install or update started with this progressId stands (null when unknown).",
  params: z.object({ id: ProgressIdSchema }).strict(),
  positional: ["id"],
  result: z.object({
    progress: z.object({
      id: z.string(),
      name: z.string(),
      version: z.string().optional(),
      phase: z.enum(["resolving", "downloading", "unpacking", "installing", "done", "failed"]),
      received: z.number(),
      total: z.number(),
      updatedAt: z.string(),
    }).nullable(),
  }),
});
