import type { Command } from "commander";
import { openMemory } from "../../memory/mod.ts";
import type { Entry } from "../../memory/mod.ts";
import { client, type CommandContext, printJson } from "../context.ts";
import { formatPairs } from "../output.ts";

/** `roam config ...`: store the host's configuration as a manifest, and read it back. */
export function configCommand(program: Command, ctx: CommandContext): void {
  const config = program.command("config")
    .description("snapshot the host's configuration into memory, to start hosts rebuilt from it")
    .addHelpText(
      "after",
      `
The snapshot is the host's resolved configuration without secrets or its data
dir (the mesh secret, the memory secrets file and keys never leave the host),
plus the list of installed plugins and their grants (recorded, not reinstalled).

Examples:
  roam config export --pool local --nickname lab-gpu
  roam config show lab-gpu
  roam host --from-manifest lab-gpu --pool local --port 7421   flags given win`,
    );

  config.command("export")
    .description("store the host's configuration as a manifest with a nickname")
    .option("--pool <name>", "the pool (default: the host's default)")
    .option("--nickname <name>", "the manifest's nickname (default host-config:<host name>)")
    .action(async (opts: { pool?: string; nickname?: string }) => {
      const mesh = await client(ctx);
      const result = await mesh.config.export(opts);
      if (ctx.global().json) return printJson(ctx, result);
      ctx.io.out(
        formatPairs([["nickname", result.nickname], ["pool", result.pool], [
          "manifest",
          result.id,
        ]]),
      );
      ctx.io.err(
        `start a host from it with: roam host --from-manifest ${result.nickname} --pool ${result.pool}`,
      );
    });

  config.command("show")
    .description("print a stored configuration snapshot")
    .argument("<nickname>", "the nickname it was exported under")
    .option("--pool <name>", "the pool (default: the host's default)")
    .action(async (nickname: string, opts: { pool?: string }) => {
      const tree = await openMemory(await client(ctx)).recall({ nickname }, { pool: opts.pool });
      printJson(ctx, {
        config: (tree.config as Entry | undefined)?.value ?? null,
        plugins: (tree.plugins as Entry | undefined)?.value ?? null,
      });
    });
}
