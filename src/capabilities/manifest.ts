import { join } from "node:path";
import { z } from "zod";
import { RoamError } from "../errors/mod.ts";

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const RELATIVE_PATH = z.string().min(1).max(256).refine(
  (p) => !p.startsWith("/") && !p.split(/[\\/]/).includes(".."),
  { message: "a path inside the plugin dir (relative, without '..')" },
);

/** What a Deno capability worker is allowed, passed to `deno run` as explicit flags. */
export const DenoPermissionsSchema = z.object({
  read: z.array(z.string().min(1)).max(64).default([]).describe("paths it may read"),
  write: z.array(z.string().min(1)).max(64).default([]).describe("paths it may write"),
  net: z.array(z.string().min(1)).max(64).default([]).describe(
    "hosts or host:port it may reach (its own loopback listener is always allowed)",
  ),
  env: z.array(z.string().min(1)).max(64).default([]).describe("environment variables it may read"),
  run: z.array(z.string().min(1)).max(64).default([]).describe("programs it may start"),
  sys: z.array(z.string().min(1)).max(64).default([]).describe("Deno.* system info it may read"),
}).strict();

/** Where a capability's worker runs. */
export const EnvironmentSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("conda"),
    file: RELATIVE_PATH.default("environment.yml").describe("the conda environment spec"),
  }).strict(),
  z.object({
    type: z.literal("venv"),
    python: z.string().min(1).default("python3").describe("the interpreter that makes the venv"),
    requirements: RELATIVE_PATH.optional().describe("a pip requirements file"),
  }).strict(),
  z.object({
    type: z.literal("system"),
    python: z.string().min(1).default("python3").describe("an interpreter on PATH, or a path"),
  }).strict(),
  z.object({
    type: z.literal("deno"),
    permissions: DenoPermissionsSchema.default(DenoPermissionsSchema.parse({})),
  }).strict(),
]);

/** A capability's environment, defaults filled in. */
export type EnvironmentSpec = z.output<typeof EnvironmentSchema>;

/** The `plugin.json` of a capability plugin. */
export const CapabilityManifestSchema = z.object({
  name: z.string().regex(NAME, {
    message: "a capability name is 1 to 64 lowercase letters, digits, '.', '_' or '-'",
  }),
  version: z.string().min(1).max(64),
  kind: z.literal("capability"),
  description: z.string().max(1024).default(""),
  entry: RELATIVE_PATH.describe("the worker script: .py for Python environments, .ts for deno"),
  environment: EnvironmentSchema,
  resources: z.object({
    ramMb: z.number().int().min(0).max(16 * 1024 * 1024).default(256),
    vramMb: z.number().int().min(0).max(16 * 1024 * 1024).default(0),
    gpu: z.boolean().default(false),
  }).strict().default({ ramMb: 256, vramMb: 0, gpu: false }),
  concurrency: z.number().int().min(1).max(1024).default(1),
  idleMs: z.number().int().min(0).max(7 * 24 * 3600_000).default(300_000),
  config: z.record(z.string(), z.unknown()).optional().describe(
    "a JSON schema (type object) for the config of an instance",
  ),
  methods: z.array(z.string().min(1).max(128)).max(256).optional().describe(
    "the methods it offers (learned from the worker when absent)",
  ),
}).passthrough().superRefine((m, ctx) => {
  const python = m.environment.type !== "deno";
  if (python && !m.entry.endsWith(".py")) {
    ctx.addIssue({
      code: "custom",
      path: ["entry"],
      message: "a Python worker's entry ends in .py",
    });
  }
  if (!python && !/\.(ts|js|mjs)$/.test(m.entry)) {
    ctx.addIssue({
      code: "custom",
      path: ["entry"],
      message: "a deno worker's entry ends in .ts, .js or .mjs",
    });
  }
});

/** A validated capability manifest, defaults filled in. */
export type CapabilityManifest = z.output<typeof CapabilityManifestSchema>;

/** Validate a parsed `plugin.json`; `source` names it in the error. */
export function parseCapabilityManifest(value: unknown, source: string): CapabilityManifest {
  const parsed = CapabilityManifestSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue.path.length ? ` at ${issue.path.join(".")}` : "";
  throw new RoamError(
    "invalid_input",
    `${source} is not a valid capability${where}: ${issue.message}`,
    {
      source,
      issues: parsed.error.issues.map(({ path, message }) => ({ path, message })),
    },
  );
}

/**
 * Check that `dir` holds a capability plugin: a valid `plugin.json` with
 * `"kind": "capability"`, its entry file, and the files its environment
 * names. Returns the manifest; throws `invalid_input` saying what is wrong.
 * The registry calls it before it moves a capability into place.
 */
export async function validateCapabilityDir(dir: string): Promise<CapabilityManifest> {
  const path = join(dir, "plugin.json");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new RoamError("invalid_input", `${path} cannot be read: ${(error as Error).message}`, {
      dir,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RoamError("invalid_input", `${path} is not JSON: ${(error as Error).message}`, {
      dir,
    });
  }
  const manifest = parseCapabilityManifest(value, path);
  const needed = [manifest.entry];
  const env = manifest.environment;
  if (env.type === "conda") needed.push(env.file);
  if (env.type === "venv" && env.requirements) needed.push(env.requirements);
  for (const file of needed) {
    const stat = await Deno.stat(join(dir, file)).catch(() => undefined);
    if (!stat?.isFile) {
      throw new RoamError("invalid_input", `${path} names ${file}, which is not a file in ${dir}`, {
        dir,
        file,
      });
    }
  }
  return manifest;
}
