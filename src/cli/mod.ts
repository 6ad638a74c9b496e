/**
 * The `roam` command line.
 *
 * @module
 */
import { Command, CommanderError } from "commander";
import { RoamError } from "../errors/mod.ts";
import { ROAM_VERSION } from "../version.ts";
import { agentCommand } from "./commands/agent.ts";
import { capCommand } from "./commands/cap.ts"; // capabilities
import { artifactCommand } from "./commands/artifact.ts"; // artifacts
import { eventsCommand } from "./commands/events.ts";
import { hostCommand } from "./commands/host.ts";
import { hostsCommand } from "./commands/hosts.ts";
import { jobsCommand } from "./commands/jobs.ts"; // jobs
import { pluginCommand } from "./commands/plugin.ts";
import { rpcCommand } from "./commands/rpc.ts";
import { serviceCommand } from "./commands/service.ts";
import { statusCommand } from "./commands/status.ts";
import { tokenCommand } from "./commands/token.ts";
import { memoryCommand } from "./commands/memory.ts"; // memory
import { configCommand } from "./commands/config.ts"; // memory: config snapshots
import type { CommandContext, GlobalOptions } from "./context.ts";
import { type Output, stdio } from "./output.ts";

export { type Output, stdio } from "./output.ts";

/** Exit status for a usage error (unknown command, bad option). */
export const EXIT_USAGE = 2;
/** Exit status for a failure (host unreachable, unauthorized, not found, ...). */
export const EXIT_FAILURE = 1;

/**
 * Run the CLI with `args` (without the program name) and return the exit
 * status. Every failure is one line on standard error; stack traces appear
 * only with `ROAM_DEBUG=1`.
 */
export async function runCli(args: string[], io: Output = stdio): Promise<number> {
  const program = new Command("roam")
    .description("roam: run agents, GPU capabilities and data across the machines of your LAN")
    .version(ROAM_VERSION, "-V, --version", "print roam's version")
    .option("--host <url>", "the host to talk to (default $ROAM_HOST, else the local host)")
    .option(
      "--token <token>",
      "bearer token (default $ROAM_TOKEN, else minted from the local mesh secret)",
    )
    .option("--data-dir <dir>", "the local host's data dir (default $ROAM_DATA_DIR or ~/.roam)")
    .option("--json", "print machine-readable JSON")
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(text.replace(/\n$/, "")),
      writeErr: (text) => io.err(text.replace(/\n$/, "")),
      outputError: (text, write) =>
        write(`roam: ${text.replace(/^error: /, "").trim().replace(/\s*\n\s*/g, " ")}`),
    })
    .showSuggestionAfterError()
    .addHelpText(
      "after",
      `
Start a host on each machine, then talk to it:
  roam host --bind auto
  roam status
  roam rpc host.health

Exit status: 0 success, 1 failure, 2 usage error.`,
    );
  const ctx: CommandContext = { io, global: () => program.opts<GlobalOptions>() };
  hostCommand(program, ctx);
  statusCommand(program, ctx);
  hostsCommand(program, ctx);
  eventsCommand(program, ctx);
  tokenCommand(program, ctx);
  pluginCommand(program, ctx);
  agentCommand(program, ctx);
  serviceCommand(program, ctx);
  capCommand(program, ctx); // capabilities
  jobsCommand(program, ctx); // jobs
  artifactCommand(program, ctx); // artifacts
  rpcCommand(program, ctx);
  memoryCommand(program, ctx); // memory
  configCommand(program, ctx); // memory
  for (const command of program.commands) {
    command.exitOverride().configureOutput(program.configureOutput()).showSuggestionAfterError();
  }

  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (Deno.env.get("ROAM_DEBUG") === "1") io.err(String((error as Error)?.stack ?? error));
    if (error instanceof RoamError) {
      io.err(`roam: ${error.message}`);
      return error.code === "invalid_input" ? EXIT_USAGE : EXIT_FAILURE;
    }
    io.err(
      `roam: unexpected error: ${
        (error as Error)?.message ?? String(error)
      } (run with ROAM_DEBUG=1 for details)`,
    );
    return EXIT_FAILURE;
  }
}
