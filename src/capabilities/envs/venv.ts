import { join } from "node:path";
import { capabilityError } from "../errors.ts";
import { EnvironmentCache } from "./cache.ts";
import { runStep, which } from "./command.ts";
import type { EnvironmentContext, LaunchSpec } from "./context.ts";
import { pythonLaunch } from "./python.ts";

/**
 * A `venv` environment: `python -m venv` plus `pip install -r requirements`,
 * kept under `DATA_DIR/envs/venv-<hash>` and keyed by the interpreter and
 * the requirements' text.
 */
export async function venvEnvironment(
  ctx: EnvironmentContext,
  spec: { python: string; requirements?: string },
): Promise<LaunchSpec> {
  const python = which(spec.python, ctx.baseEnv.PATH ?? "");
  if (!python) {
    throw capabilityError(
      "fatal",
      `capability ${ctx.manifest.name} makes its venv with '${spec.python}', which is not on PATH; install Python 3 (with its venv module) or set environment.python`,
      { capability: ctx.manifest.name, python: spec.python },
    );
  }
  const requirementsPath = spec.requirements ? join(ctx.pluginDir, spec.requirements) : undefined;
  const requirements = requirementsPath ? await Deno.readTextFile(requirementsPath) : "";
  const key = EnvironmentCache.keyOf("venv", { python: spec.python, requirements });
  const step = {
    env: ctx.baseEnv,
    stallMs: ctx.stallMs,
    progress: ctx.progress,
    signal: ctx.signal,
  };
  const prefix = await ctx.cache.ensure(key, async (prefix) => {
    await runStep(python, ["-m", "venv", prefix], step);
    if (!requirementsPath) return;
    await runStep(join(prefix, "bin", "python"), [
      "-m",
      "pip",
      "install",
      "--disable-pip-version-check",
      "--no-input",
      "--progress-bar",
      "off",
      "-r",
      requirementsPath,
    ], { ...step, cwd: ctx.pluginDir });
  });
  return pythonLaunch(ctx, join(prefix, "bin", "python"), prefix);
}
