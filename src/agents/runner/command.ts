/** Flags roam itself runs with (and a runner needs) under `deno run`. */
const UNSTABLE = ["--unstable-net", "--unstable-worker-options"];

/** The main module, for starting roam again under `deno run`. */
const MAIN = new URL("../../../main.ts", import.meta.url);

/**
 * The command that starts this roam again with `args`: the binary itself when
 * roam is compiled, else `deno run main.ts`. V8 flags go on the command line
 * under `deno run` and through `DENO_V8_FLAGS` for a compiled binary.
 */
export function selfCommand(
  args: string[],
  v8Flags: string[],
): { command: string; args: string[]; env: Record<string, string> } {
  if (Deno.build.standalone) {
    return { command: Deno.execPath(), args, env: { DENO_V8_FLAGS: v8Flags.join(",") } };
  }
  return {
    command: Deno.execPath(),
    args: [
      "run",
      // A runner may hand its workers at most what it has itself; it never
      // needs to run programs or load native code, so those are denied.
      "--allow-read",
      "--allow-write",
      "--allow-net",
      "--allow-env",
      "--deny-run",
      "--deny-ffi",
      "--no-prompt",
      ...UNSTABLE,
      ...(v8Flags.length ? [`--v8-flags=${v8Flags.join(",")}`] : []),
      MAIN.pathname,
      ...args,
    ],
    env: {},
  };
}

/** The argument that makes `main.ts` run the agent runner instead of the CLI. */
export const RUNNER_ARG = "__agent-runner";
