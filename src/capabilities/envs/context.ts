import type { CapabilityManifest } from "../manifest.ts";
import type { EnvironmentCache } from "./cache.ts";

/** What an environment kind needs to prepare a capability's worker. */
export interface EnvironmentContext {
  /** The capability's manifest. */
  manifest: CapabilityManifest;
  /** Its plugin dir. */
  pluginDir: string;
  /** Where the worker libraries were written (`python/`, `deno/`). */
  libDir: string;
  /** Managed environments. */
  cache: EnvironmentCache;
  /** Most milliseconds a creation step may go without output. */
  stallMs: number;
  /** The environment creation steps run with (the host's, minus roam's secrets). */
  baseEnv: Record<string, string>;
  /** Each line of creation output. */
  progress: (line: string) => void;
  /** Aborting stops a creation. */
  signal?: AbortSignal;
}

/** How to start a worker: a program, its arguments and extra environment variables. */
export interface LaunchSpec {
  /** The program. */
  command: string;
  /** Its arguments, the entry script included. */
  args: string[];
  /** Variables the worker needs besides roam's own. */
  env: Record<string, string>;
  /** The managed environment's prefix, when there is one. */
  prefix?: string;
}
