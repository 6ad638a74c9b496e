import { z } from "zod";
import { RoamError } from "../errors/mod.ts";

/** The `format` string of the index this roam reads and writes. */
export const INDEX_FORMAT = "roam-registry/1";

/** Most plugins in one index. */
export const MAX_INDEX_PLUGINS = 10_000;

/** Most versions of one plugin in an index. */
export const MAX_PLUGIN_VERSIONS = 1_000;

const NUMERIC = "0|[1-9]\\d*";
const PRE_ID = "(?:0|[1-9]\\d*|\\d*[A-Za-z-][0-9A-Za-z-]*)";
const SEMVER = new RegExp(
  `^(?:${NUMERIC})\\.(?:${NUMERIC})\\.(?:${NUMERIC})(?:-${PRE_ID}(?:\\.${PRE_ID})*)?$`,
);

const NameSchema = z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, {
  message: "must be 1 to 64 lowercase letters, digits or '-', starting with a letter",
});
const VersionSchema = z.string().max(64).regex(SEMVER, {
  message: "must be a semantic version x.y.z, optionally with -pre (like 1.2.0 or 2.0.0-rc.1)",
});
const Sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, {
  message: "must be 64 lowercase hex digits",
});

/** Where a version's archive is, its sha256 and its exact size in bytes. */
export const ArchiveRefSchema = z.object({
  /** Absolute (http, https or file) or relative to the index's own URL. */
  url: z.string().min(1).max(2048),
  sha256: Sha256Schema,
  size: z.number().int().min(1).max(2 ** 40),
});

/**
 * What a plugin asks for, by kind: lists (`read`, `write`, `net`, `env`) or
 * yes/no (a capability's `gpu`, say), as in its `plugin.json`.
 */
export const IndexPermissionsSchema = z.record(
  z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/),
  z.union([z.array(z.string().max(4096)).max(64), z.boolean()]),
).refine((r) => Object.keys(r).length <= 16, { message: "at most 16 permission kinds" });

/** A free-form JSON object of bounded size (a capability's environment, resources). */
const SmallObjectSchema = z.record(z.string().max(128), z.unknown()).refine(
  (value) => JSON.stringify(value).length <= 64 * 1024,
  { message: "must be at most 64 KiB of JSON" },
);

/** One version of a plugin in the index. */
export const IndexVersionSchema = z.object({
  version: VersionSchema,
  /** This version's own description, when it differs from the plugin's. */
  description: z.string().max(500).optional(),
  archive: ArchiveRefSchema,
  /** The lowest roam version this version runs on. */
  minRoam: VersionSchema,
  permissions: IndexPermissionsSchema.default({}),
  /** Capabilities: the environment their workers run in, as in their `plugin.json`. */
  environment: SmallObjectSchema.optional(),
  resources: SmallObjectSchema.default({}),
});

/** One plugin in the index, with every version it offers. */
export const IndexPluginSchema = z.object({
  name: NameSchema,
  kind: z.enum(["agent", "capability"], { message: 'must be "agent" or "capability"' }),
  description: z.string().max(500),
  versions: z.array(IndexVersionSchema).min(1).max(MAX_PLUGIN_VERSIONS).superRefine(
    (versions, ctx) => {
      const seen = new Set<string>();
      for (const [i, v] of versions.entries()) {
        if (seen.has(v.version)) {
          ctx.addIssue({
            code: "custom",
            path: [i, "version"],
            message: `version ${v.version} is listed twice`,
          });
        }
        seen.add(v.version);
      }
    },
  ),
});

/**
 * A registry index, `roam-registry/1`. Readers ignore fields they do not
 * know, so a publisher may add some; a change an older reader cannot ignore
 * gets a new `format` string. See docs/registry.md.
 */
export const RegistryIndexSchema = z.object({
  format: z.literal(INDEX_FORMAT, {
    message: `must be "${INDEX_FORMAT}" (this roam reads that format only)`,
  }),
  /** Who publishes this index, for people. */
  name: z.string().max(200).optional(),
  plugins: z.array(IndexPluginSchema).max(MAX_INDEX_PLUGINS).superRefine((plugins, ctx) => {
    const seen = new Set<string>();
    for (const [i, p] of plugins.entries()) {
      if (seen.has(p.name)) {
        ctx.addIssue({ code: "custom", path: [i, "name"], message: `${p.name} is listed twice` });
      }
      seen.add(p.name);
    }
  }),
});

/** A validated index with defaults filled in. */
export type RegistryIndex = z.output<typeof RegistryIndexSchema>;

/** A plugin as the index describes it. */
export type IndexPlugin = z.output<typeof IndexPluginSchema>;

/** One version of a plugin as the index describes it. */
export type IndexVersion = z.output<typeof IndexVersionSchema>;

/** What a publisher writes (defaults may be left out). */
export type RegistryIndexInput = z.input<typeof RegistryIndexSchema>;

/**
 * Parse and validate index bytes. `source` names where they came from.
 *
 * @throws {RoamError} `invalid_input`: "the index at SOURCE: FIELD: PROBLEM".
 */
export function parseIndex(bytes: Uint8Array, source: string): RegistryIndex {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw new RoamError(
      "invalid_input",
      `the index at ${source} is not valid JSON: ${
        (error as Error).message
      }; is this the URL of a roam registry index.json?`,
      { source },
    );
  }
  const parsed = RegistryIndexSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({
    field: issue.path.map(String).join(".") || "(the index)",
    message: issue.message,
  }));
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : "";
  throw new RoamError(
    "invalid_input",
    `the index at ${source}: ${issues[0].field}: ${issues[0].message}${more}`,
    { source, issues },
  );
}
