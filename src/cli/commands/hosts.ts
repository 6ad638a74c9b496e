import { type Command, Option } from "commander";
import type { ResultOf } from "../../api/mod.ts";
import { client, type CommandContext, printJson } from "../context.ts";
import { formatDuration, formatTable } from "../output.ts";

type MeshHost = ResultOf<"mesh.hosts">["hosts"][number];

/** `roam hosts`: the hosts of the mesh as the local (or `--host`) host sees them. */
export function hostsCommand(program: Command, ctx: CommandContext): void {
  program.command("hosts")
    .description(
      "list the hosts of the mesh with state, last seen, load, free RAM and GPUs",
    )
    .addOption(
      new Option("--state <state>", "only hosts in this state").choices([
        "alive",
        "suspect",
        "dead",
        "left",
      ]),
    )
    .addHelpText(
      "after",
      `
Examples:
  roam hosts                    every host this host knows, itself first
  roam hosts --state alive      only the ones answering now
  roam --json hosts             everything, as JSON (records, incarnations, gossip addresses)`,
    )
    .action(async (opts) => {
      const roam = await client(ctx);
      const { hosts } = await roam.mesh.hosts({ state: opts.state });
      if (ctx.global().json) return printJson(ctx, hosts);
      ctx.io.out(formatHosts(hosts));
    });
}

/** Hosts as the `roam hosts` table. */
export function formatHosts(hosts: readonly MeshHost[]): string {
  return formatTable(hosts, [
    { header: "NAME", value: (h) => h.self ? `${h.name} (this)` : h.name, max: 40 },
    { header: "STATE", value: (h) => h.state },
    {
      header: "LAST SEEN",
      value: (h) =>
        h.self
          ? "now"
          : h.lastSeenAgoMs === null
          ? "never"
          : `${formatDuration(h.lastSeenAgoMs)} ago`,
    },
    { header: "LOAD", value: (h) => h.load?.length ? h.load[0].toFixed(2) : "-" },
    { header: "FREE RAM", value: (h) => h.freeRamMb === null ? "-" : formatMb(h.freeRamMb) },
    { header: "GPUS", value: (h) => formatGpus(h.gpus), max: 48 },
    { header: "URL", value: (h) => h.url },
  ]);
}

function formatMb(mb: number): string {
  return mb >= 1024 ? `${(mb / 1024).toFixed(1)} GiB` : `${mb} MiB`;
}

function formatGpus(gpus: MeshHost["gpus"]): string {
  if (gpus.length === 0) return "-";
  const byName = new Map<string, { n: number; free: number; total: number }>();
  for (const g of gpus) {
    const entry = byName.get(g.name) ?? { n: 0, free: 0, total: 0 };
    entry.n++;
    entry.free += g.memoryFreeMb;
    entry.total += g.memoryTotalMb;
    byName.set(g.name, entry);
  }
  return [...byName].map(([name, e]) =>
    `${e.n}x ${name} (${(e.free / 1024).toFixed(1)}/${(e.total / 1024).toFixed(1)} GiB free)`
  ).join(", ");
}
