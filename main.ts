/**
 * `roam`: the command line. Run `roam --help`.
 *
 * The same executable also runs roam's agent runner processes (started by a
 * host with a hidden first argument), which is why the two entries are
 * loaded on demand: a runner never loads the CLI, and the CLI never loads the
 * runner. Both specifiers are literal, so a compiled binary embeds them.
 *
 * @module
 */
if (import.meta.main) {
  if (Deno.args[0] === "__agent-runner") {
    const { runRunner } = await import("./src/agents/runner/main.ts");
    await runRunner();
  } else {
    const { runCli } = await import("./src/cli/mod.ts");
    Deno.exit(await runCli(Deno.args));
  }
}
