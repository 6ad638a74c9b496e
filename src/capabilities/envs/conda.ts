import { basename, join } from "node:path";
import { capabilityError } from "../errors.ts";
import { EnvironmentCache } from "./cache.ts";
import { runStep, which } from "./command.ts";
import type { EnvironmentContext, LaunchSpec } from "./context.ts";
import { pythonLaunch } from "./python.ts";

/** A conda-compatible tool and how it was found. */
export interface CondaTool {
  /** Its path. */
  path: string;
  /** `micromamba`, `mamba` or `conda` (by its file name). */
  flavour: "micromamba" | "mamba" | "conda";
  /** Where it was found: `MAMBA_EXE`, `CONDA_EXE` or `PATH`. */
  via: string;
}

/** The conda tool to use: `MAMBA_EXE`, then `CONDA_EXE`, then micromamba, mamba, conda on PATH. */
export function findCondaTool(env: Record<string, string | undefined>): CondaTool | undefined {
  for (const variable of ["MAMBA_EXE", "CONDA_EXE"]) {
    const value = env[variable];
    const path = value ? which(value, env.PATH ?? "") : undefined;
    if (path) return { path, flavour: flavourOf(path), via: variable };
  }
  for (const name of ["micromamba", "mamba", "conda"] as const) {
    const path = which(name, env.PATH ?? "");
    if (path) return { path, flavour: name, via: "PATH" };
  }
  return undefined;
}

function flavourOf(path: string): CondaTool["flavour"] {
  const name = basename(path);
  if (name.includes("micromamba")) return "micromamba";
  if (name.includes("mamba")) return "mamba";
  return "conda";
}

/**
 * A `conda` environment: created from the plugin's environment.yml by
 * prefix under `DATA_DIR/envs/conda-<hash of the file>`, reused while the
 * file is unchanged.
 */
export async function condaEnvironment(
  ctx: EnvironmentContext,
  spec: { file: string },
): Promise<LaunchSpec> {
  const tool = findCondaTool(ctx.baseEnv);
  if (!tool) {
    throw capabilityError(
      "fatal",
      `capability ${ctx.manifest.name} needs a conda environment, and no conda tool was found (looked at MAMBA_EXE, CONDA_EXE, then micromamba, mamba and conda on PATH): install micromamba (https://mamba.readthedocs.io/en/latest/installation/micromamba-installation.html) and put it on PATH or set MAMBA_EXE, or install Miniforge and set CONDA_EXE`,
      { capability: ctx.manifest.name, install: ["micromamba", "mamba", "conda"] },
      "unavailable",
    );
  }
  const file = join(ctx.pluginDir, spec.file);
  const text = await Deno.readTextFile(file);
  const key = EnvironmentCache.keyOf("conda", { file: text });
  const prefix = await ctx.cache.ensure(key, async (prefix) => {
    ctx.progress(`using ${tool.flavour} at ${tool.path} (from ${tool.via})`);
    const args = tool.flavour === "micromamba"
      ? ["create", "-y", "-p", prefix, "-f", file]
      : ["env", "create", "-p", prefix, "-f", file];
    await runStep(tool.path, args, {
      env: ctx.baseEnv,
      stallMs: ctx.stallMs,
      progress: ctx.progress,
      signal: ctx.signal,
      cwd: ctx.pluginDir,
    });
    if (!which(join(prefix, "bin", "python"))) {
      throw capabilityError(
        "fatal",
        `the conda environment of ${ctx.manifest.name} has no bin/python; add python to the dependencies of ${spec.file}`,
        { capability: ctx.manifest.name, prefix },
      );
    }
  });
  return pythonLaunch(ctx, join(prefix, "bin", "python"), prefix);
}
