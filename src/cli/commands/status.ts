import type { Command } from "commander";
import { client, type CommandContext, printJson } from "../context.ts";
import { formatDuration, formatPairs } from "../output.ts";

/** `roam status`: who the host is and how it runs. */
export function statusCommand(program: Command, ctx: CommandContext): void {
  program.command("status")
    .description("show the host's name, version, addresses, uptime and event log")
    .action(async () => {
      const mesh = await client(ctx);
      const info = await mesh.host.info();
      if (ctx.global().json) return printJson(ctx, info);
      ctx.io.out(formatPairs([
        ["name", info.name],
        ["id", info.id],
        ["version", `roam ${info.version} (deno ${info.deno})`],
        ["urls", info.urls.join(", ")],
        ["bind", `${info.bind.mode} (${info.bind.addresses.join(", ")} port ${info.bind.port})`],
        ["uptime", formatDuration(info.uptimeMs)],
        ["started", `${info.startedAt} (start ${info.starts} since ${info.firstStartedAt})`],
        ["tags", info.tags.join(", ") || "-"],
        [
          "properties",
          Object.entries(info.properties).map(([k, v]) => `${k}=${v}`).join(", ") || "-",
        ],
        ["data dir", info.dataDir],
        [
          "events",
          `${info.events.count} kept (seq ${info.events.oldest}..${info.events.latest}, at most ${info.events.retain})`,
        ],
        ["pid", String(info.pid)],
      ]));
    });
}
