import { join } from "node:path";
import { z } from "zod";
import { RoamError } from "../errors/mod.ts";
import { RequestedPermissionsSchema } from "./permissions.ts";

/** The manifest's file name in a plugin dir. */
export const MANIFEST_FILE = "plugin.json";

/** The bundle's file name in a packed plugin dir and in an install. */
export const BUNDLE_FILE = "bundle.cjs";

/** Largest agent bundle, in bytes. */
export const MAX_BUNDLE_BYTES = 8 * 1024 * 1024;

/** Largest `plugin.json`, in bytes. */
export const MAX_MANIFEST_BYTES = 64 * 1024;

const NUMERIC = "0|[1-9]\\d*";
const PRE_ID = "(?:0|[1-9]\\d*|\\d*[A-Za-z-][0-9A-Za-z-]*)";
const SEMVER = new RegExp(
  `^(${NUMERIC})\\.(${NUMERIC})\\.(${NUMERIC})(?:-(${PRE_ID}(?:\\.${PRE_ID})*))?$`,
);

/** A plugin name: lowercase letters, digits and '-', 1 to 64, starting with a letter. */
export const PluginNameSchema = z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, {
  message: "must be 1 to 64 lowercase letters, digits or '-', starting with a letter",
});

/** A version: semver `x.y.z` with an optional `-pre` part (no `+build`). */
export const PluginVersionSchema = z.string().max(64).regex(SEMVER, {
  message: "must be a semantic version x.y.z, optionally with -pre (like 1.2.0 or 2.0.0-rc.1)",
});

/** A path inside the plugin dir: relative, no `..`, no backslashes. */
const RelativeFileSchema = z.string().min(1).max(256).superRefine((p, ctx) => {
  const problem = p.startsWith("/") || /^[A-Za-z]:/.test(p)
    ? "must be a relative path inside the plugin dir, not an absolute one"
    : p.includes("\\") || p.includes("\0")
    ? "must use '/' between parts and contain no NUL"
    : p.split("/").some((part) => part === "..")
    ? "must stay inside the plugin dir (no '..')"
    : p.split("/").some((part) => part === "")
    ? "must name a file (no empty parts or trailing '/')"
    : undefined;
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** The code file a plugin starts from. */
const EntrySchema = RelativeFileSchema.refine((p) => /\.(ts|tsx|mts|js|jsx|mjs)$/.test(p), {
  message: "must be a .ts, .tsx, .mts, .js, .jsx or .mjs file",
});

/** Where a packed plugin's bundle is and its sha256. */
export const BundleRefSchema = z.object({
  file: RelativeFileSchema,
  sha256: z.string().regex(/^[0-9a-f]{64}$/, {
    message: "must be 64 lowercase hex digits",
  }),
}).strict();

/**
 * `plugin.json`: what a plugin is, where its code starts, and what it asks
 * for. Unknown keys are refused, so that a misspelt field is an error rather
 * than silently ignored.
 */
export const ManifestSchema = z.object({
  name: PluginNameSchema,
  version: PluginVersionSchema,
  kind: z.enum(["agent", "capability"], {
    message: 'must be "agent" or "capability"',
  }),
  entry: EntrySchema,
  description: z.string().max(500),
  permissions: RequestedPermissionsSchema.default({ read: [], write: [], net: [], env: [] }),
  resources: z.object({
    memoryMb: z.number().int().min(16).max(65536).default(256),
  }).strict().default({ memoryMb: 256 }),
  /**
   * `process` (default): each agent in a runner process of its own, under its
   * memory budget. `shared`: the plugin's agents share one runner (an agent
   * that runs out of memory takes its siblings down; they restart from their
   * last good state). `inline`: workers in the host process, fastest, with no
   * memory budget (Deno has none for workers), for trusted, small agents.
   */
  isolation: z.enum(["process", "shared", "inline"], {
    message: 'must be "process", "shared" or "inline"',
  }).default("process"),
  bundle: BundleRefSchema.optional(),
  /** registry: the lowest roam version this plugin runs on (the index's `minRoam`). */
  minRoam: PluginVersionSchema.optional(),
}).strict();

/** A manifest as written in `plugin.json` (defaults may be left out). */
export type ManifestInput = z.input<typeof ManifestSchema>;

/** A validated manifest with every default filled in. */
export type PluginManifest = z.output<typeof ManifestSchema>;

/** A manifest of a packed plugin: it names its bundle and the bundle's sha256. */
export type PackedManifest = PluginManifest & { bundle: z.output<typeof BundleRefSchema> };

/**
 * Validate a manifest. `source` says where it came from for the error
 * message, like `plugin.json at /src/echo/plugin.json`.
 *
 * @throws {RoamError} `invalid_input`: "SOURCE: FIELD: PROBLEM", with every issue in `data.issues`.
 */
export function parseManifest(value: unknown, source: string): PluginManifest {
  const parsed = ManifestSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({
    field: fieldOf(issue),
    message: issue.message,
  }));
  const [first] = issues;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : "";
  throw new RoamError(
    "invalid_input",
    `${source}: ${first.field}: ${first.message}${more}`,
    { issues },
  );
}

function fieldOf(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join(".");
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => (path ? `${path}.${k}` : k)).join(", ");
  }
  return path || "(the manifest)";
}

/**
 * Read and validate `DIR/plugin.json`.
 *
 * @throws {RoamError} `not_found` when there is no such file; `invalid_input` when it is not
 * JSON or not a valid manifest.
 */
export async function readManifest(
  dir: string,
): Promise<{ manifest: PluginManifest; path: string }> {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    const info = await Deno.stat(path);
    if (info.size > MAX_MANIFEST_BYTES) {
      throw new RoamError(
        "too_large",
        `plugin.json at ${path} is ${info.size} bytes; at most ${MAX_MANIFEST_BYTES} are allowed`,
        { path, size: info.size, limit: MAX_MANIFEST_BYTES },
      );
    }
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof RoamError) throw error;
    if (error instanceof Deno.errors.NotFound) {
      throw new RoamError(
        "not_found",
        `no plugin.json in ${dir}; a plugin dir holds plugin.json and its code`,
        { path },
      );
    }
    throw new RoamError("unavailable", `cannot read ${path}: ${(error as Error).message}`, {
      path,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RoamError(
      "invalid_input",
      `plugin.json at ${path}: not valid JSON: ${(error as Error).message}`,
      { path },
    );
  }
  return { manifest: parseManifest(value, `plugin.json at ${path}`), path };
}

/**
 * Compare two semantic versions: negative when `a` comes before `b`, 0 when
 * equal, positive after. A pre-release comes before its release
 * (`1.0.0-rc.1 < 1.0.0`); pre-release parts compare numerically when both
 * are numbers, else as text, and numbers come first.
 */
export function compareVersions(a: string, b: string): number {
  const pa = a.match(SEMVER);
  const pb = b.match(SEMVER);
  if (!pa || !pb) throw new TypeError(`not a semantic version: ${pa ? b : a}`);
  for (let i = 1; i <= 3; i++) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d !== 0) return Math.sign(d);
  }
  const preA = pa[4]?.split(".");
  const preB = pb[4]?.split(".");
  if (!preA || !preB) return preA ? -1 : preB ? 1 : 0;
  for (let i = 0; i < Math.max(preA.length, preB.length); i++) {
    if (preA[i] === undefined) return -1;
    if (preB[i] === undefined) return 1;
    const na = /^\d+$/.test(preA[i]);
    const nb = /^\d+$/.test(preB[i]);
    if (na && nb) {
      const d = Number(preA[i]) - Number(preB[i]);
      if (d !== 0) return Math.sign(d);
    } else if (na !== nb) {
      return na ? -1 : 1;
    } else if (preA[i] !== preB[i]) {
      return preA[i] < preB[i] ? -1 : 1;
    }
  }
  return 0;
}
