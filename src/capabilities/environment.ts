import { condaEnvironment } from "./envs/conda.ts";
import type { EnvironmentContext, LaunchSpec } from "./envs/context.ts";
import { denoEnvironment } from "./envs/deno.ts";
import { systemEnvironment } from "./envs/system.ts";
import { venvEnvironment } from "./envs/venv.ts";

export { EnvironmentCache } from "./envs/cache.ts";
export type { EnvironmentContext, LaunchSpec } from "./envs/context.ts";
export { type CondaTool, findCondaTool } from "./envs/conda.ts";

/**
 * Prepare the environment a capability's manifest names (creating a managed
 * one when it is not ready yet) and say how to start its worker there.
 */
export function prepareEnvironment(ctx: EnvironmentContext): Promise<LaunchSpec> {
  const env = ctx.manifest.environment;
  switch (env.type) {
    case "system":
      return Promise.resolve().then(() => systemEnvironment(ctx, env.python));
    case "venv":
      return venvEnvironment(ctx, env);
    case "conda":
      return condaEnvironment(ctx, env);
    case "deno":
      return Promise.resolve().then(() => denoEnvironment(ctx, env.permissions));
  }
}
