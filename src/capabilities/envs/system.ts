import { capabilityError } from "../errors.ts";
import { which } from "./command.ts";
import type { EnvironmentContext, LaunchSpec } from "./context.ts";
import { pythonLaunch } from "./python.ts";

/** A `system` environment: an interpreter that is there already, found on PATH. */
export function systemEnvironment(ctx: EnvironmentContext, python: string): LaunchSpec {
  const path = which(python, ctx.baseEnv.PATH ?? "");
  if (!path) {
    throw capabilityError(
      "fatal",
      `capability ${ctx.manifest.name} runs on the system Python '${python}', which is not on PATH; install Python 3 or set environment.python in its plugin.json`,
      { capability: ctx.manifest.name, python },
      "unavailable",
    );
  }
  return pythonLaunch(ctx, path);
}
