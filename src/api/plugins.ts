import { z } from "zod";
import { defineMethod } from "../rpc/mod.ts";

/** Largest bundle `plugin.add` takes, in characters (the host also checks bytes). */
export const MAX_PLUGIN_CODE_CHARS = 8 * 1024 * 1024;

const NameSchema = z.string().min(1).max(64).describe("the plugin's name, like echo");
const VersionSchema = z.string().min(1).max(64).describe("a version, like 1.2.0");
const Sha256Schema = z.string().regex(/^[0-9a-f]{64}$/);
const EntryList = z.array(z.string().max(4096)).max(64);

/** Paths, hosts and environment variables: what a plugin requests, or what it is granted. */
export const PermissionListsSchema = z.object({
  read: z.array(z.string()).describe("absolute paths; everything under them too"),
  write: z.array(z.string()).describe("absolute paths; everything under them too"),
  net: z.array(z.string()).describe("host (any port) or host:port"),
  env: z.array(z.string()).describe("environment variable names"),
});

/** One installed plugin version, as `plugin.list` shows it. */
export const PluginSummarySchema = z.object({
  name: z.string(),
  version: z.string(),
  sha256: Sha256Schema,
  size: z.number().int().describe("bytes of the bundle"),
  description: z.string(),
  requested: PermissionListsSchema.describe("what the plugin asks for in its manifest"),
  granted: PermissionListsSchema.describe("what the operator granted (every version of it)"),
  installedAt: z.string(),
});

/** `plugin.add`: install an agent plugin from its packed manifest and bundle. */
export const pluginAdd = defineMethod({
  name: "plugin.add",
  summary:
    "Install an agent plugin from its manifest and bundle text; the same name, version and code again is a no-op.",
  params: z.object({
    manifest: z.record(z.string(), z.unknown()).describe(
      "the plugin's plugin.json (its bundle.sha256, when present, must match the code)",
    ),
    code: z.string().max(MAX_PLUGIN_CODE_CHARS).describe(
      "the CommonJS bundle made by 'roam plugin pack'",
    ),
  }).strict(),
  result: z.object({
    name: z.string(),
    version: z.string(),
    sha256: Sha256Schema,
    size: z.number().int(),
    installed: z.boolean().describe("false when this name, version and code were there already"),
  }),
  timeoutMs: 60_000,
});

/** `plugin.list`: every installed plugin version. */
export const pluginList = defineMethod({
  name: "plugin.list",
  summary:
    "Every installed plugin version with its description, requested permissions and the operator's grants.",
  params: z.object({}).strict(),
  result: z.object({ plugins: z.array(PluginSummarySchema) }),
});

/** `plugin.info`: one plugin version in full. */
export const pluginInfo = defineMethod({
  name: "plugin.info",
  summary:
    "One installed plugin version (the newest when none is named) with its manifest, grants and the permissions its agents get.",
  params: z.object({ name: NameSchema, version: VersionSchema.optional() }).strict(),
  positional: ["name", "version"],
  result: PluginSummarySchema.extend({
    kind: z.string(),
    entry: z.string(),
    versions: z.array(z.string()).describe("every installed version, newest first"),
    effective: PermissionListsSchema.describe(
      "granted and requested both: what an agent of this version may touch, besides its own dirs",
    ),
    resources: z.object({ memoryMb: z.number().int() }),
    isolation: z.string(),
    manifest: z.record(z.string(), z.unknown()),
  }),
});

/** `plugin.grant`: give a plugin paths, hosts or environment variables. */
export const pluginGrant = defineMethod({
  name: "plugin.grant",
  summary:
    "Grant a plugin absolute paths to read or write, hosts to reach and environment variables, adding to its grants unless replace is set.",
  params: z.object({
    name: NameSchema,
    read: EntryList.optional(),
    write: EntryList.optional(),
    net: EntryList.optional(),
    env: EntryList.optional(),
    replace: z.boolean().default(false).describe("replace the grants instead of adding to them"),
  }).strict(),
  result: z.object({
    name: z.string(),
    grants: PermissionListsSchema.describe("every grant now in force"),
    unrequested: PermissionListsSchema.describe(
      "grants no installed version requests: they have no effect until a version asks for them",
    ),
  }),
});

/** `plugin.revoke`: take every grant away from a plugin. */
export const pluginRevoke = defineMethod({
  name: "plugin.revoke",
  summary: "Take every grant away from a plugin; its new agents get only their own dirs.",
  params: z.object({ name: NameSchema }).strict(),
  positional: ["name"],
  result: z.object({ name: z.string(), revoked: z.boolean().describe("whether it had any") }),
});

/** `plugin.remove`: uninstall one version, or all of them. */
export const pluginRemove = defineMethod({
  name: "plugin.remove",
  summary:
    "Uninstall one version of a plugin, or every version when none is named (which drops its grants too).",
  params: z.object({ name: NameSchema, version: VersionSchema.optional() }).strict(),
  positional: ["name", "version"],
  result: z.object({
    removed: z.array(z.object({ name: z.string(), version: z.string(), sha256: Sha256Schema })),
    grantsDropped: z.boolean(),
  }),
});
