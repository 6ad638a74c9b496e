import { join } from "node:path";
import type { DenoPermissionsSchema } from "../manifest.ts";
import type { z } from "zod";
import type { EnvironmentContext, LaunchSpec } from "./context.ts";

/** Variables every Deno worker may read: what the worker library needs. */
const WORKER_ENV = ["ROAM_WORKER_TOKEN", "ROAM_WORKER_CONCURRENCY", "ROAM_CAPABILITY"];

/**
 * A `deno` environment: the worker runs with this Deno (`Deno.execPath()`)
 * with only the permissions its manifest names, as explicit flags, and no
 * prompt. It may always listen on loopback and read its protocol variables.
 */
export function denoEnvironment(
  ctx: EnvironmentContext,
  permissions: z.output<typeof DenoPermissionsSchema>,
): LaunchSpec {
  const flags = [
    `--allow-net=${["127.0.0.1", ...permissions.net].join(",")}`,
    `--allow-env=${[...WORKER_ENV, ...permissions.env].join(",")}`,
  ];
  for (const kind of ["read", "write", "run", "sys"] as const) {
    if (permissions[kind].length) flags.push(`--allow-${kind}=${permissions[kind].join(",")}`);
  }
  return {
    command: Deno.execPath(),
    args: [
      "run",
      "--no-prompt",
      "--no-config",
      "--no-lock",
      "--quiet",
      `--import-map=${join(ctx.libDir, "deno", "import_map.json")}`,
      ...flags,
      join(ctx.pluginDir, ctx.manifest.entry),
    ],
    env: { NO_COLOR: "1" },
  };
}
