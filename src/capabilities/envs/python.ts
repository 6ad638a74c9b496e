import { join } from "node:path";
import type { EnvironmentContext, LaunchSpec } from "./context.ts";

/** Start `entry` of the plugin with `python`, the Python worker library on its path. */
export function pythonLaunch(ctx: EnvironmentContext, python: string, prefix?: string): LaunchSpec {
  const libPath = join(ctx.libDir, "python");
  const existing = ctx.baseEnv.PYTHONPATH;
  return {
    command: python,
    args: ["-u", join(ctx.pluginDir, ctx.manifest.entry)],
    env: {
      PYTHONPATH: existing ? `${libPath}:${existing}` : libPath,
      PYTHONUNBUFFERED: "1",
      PYTHONDONTWRITEBYTECODE: "1",
    },
    prefix,
  };
}
