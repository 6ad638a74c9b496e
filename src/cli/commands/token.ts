import type { Command } from "commander";
import { join } from "node:path";
import { defaultDataDir, readRuntimeInfo } from "../../client/mod.ts";
import { parseDuration, readSecret, TokenSigner } from "../../security/mod.ts";
import { type CommandContext, printJson } from "../context.ts";

/** `roam token`: mint a token from the mesh secret on this machine. */
export function tokenCommand(program: Command, ctx: CommandContext): void {
  program.command("token")
    .description(
      "mint a bearer token from this machine's mesh secret (for scripts, other machines, the dashboard)",
    )
    .option("--ttl <duration>", "how long it is valid: 90s, 15m, 12h, 7d (at most 30d)", "12h")
    .option("--subject <name>", "who it is for; hosts record it with what the token does", "cli")
    .option(
      "--secret-file <file>",
      "the mesh secret (default: the running host's, else DATA_DIR/secret)",
    )
    .addHelpText(
      "after",
      `
Examples:
  export ROAM_TOKEN=$(roam token --ttl 1h)
  roam token --subject laptop --ttl 7d`,
    )
    .action(async (opts) => {
      const ttlMs = parseDuration(opts.ttl);
      const dataDir = ctx.global().dataDir ?? defaultDataDir();
      const secretFile = opts.secretFile ?? (await readRuntimeInfo(dataDir))?.secretFile ??
        join(dataDir, "secret");
      const secret = await readSecret(secretFile);
      const token = new TokenSigner(secret.bytes).mint({ subject: opts.subject, ttlMs });
      if (ctx.global().json) {
        return printJson(ctx, {
          token,
          subject: opts.subject,
          expiresAt: new Date(Date.now() + ttlMs).toISOString(),
        });
      }
      ctx.io.out(token);
    });
}
