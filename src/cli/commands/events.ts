import type { Command } from "commander";
import { RoamError } from "../../errors/mod.ts";
import type { RoamEvent } from "../../api/mod.ts";
import { client, type CommandContext } from "../context.ts";
import { formatTable } from "../output.ts";

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `roam events [--follow]`: the host's event log. */
export function eventsCommand(program: Command, ctx: CommandContext): void {
  program.command("events")
    .description(
      "show the host's event log; with --follow, keep printing new events until interrupted",
    )
    .option("-f, --follow", "keep printing new events as they happen")
    .option(
      "--since <seq>",
      "only events after this seq (default: the last --limit events)",
      parseSeq,
    )
    .option("--limit <n>", "most events to show before following", parseSeq, 20)
    .option(
      "--type <type>",
      "only this type; a type ending in '.' is a prefix (host.); repeatable",
      collect,
    )
    .action(async (opts) => {
      const json = ctx.global().json;
      const mesh = await client(ctx);
      const types: string[] | undefined = opts.type;
      let since: number = opts.since ?? -1;
      if (since < 0) {
        const { latest } = await mesh.events.since({ since: 0, limit: 1 });
        since = Math.max(0, latest - opts.limit);
      }
      const page = await mesh.events.since({
        since,
        limit: Math.min(1000, Math.max(1, opts.limit)),
        types,
      });
      const line = (e: RoamEvent) =>
        json
          ? JSON.stringify(e)
          : `${e.seq}  ${e.ts}  ${e.type}  ${e.subject ?? "-"}  ${JSON.stringify(e.data)}`;
      if (!opts.follow) {
        if (json) ctx.io.out(JSON.stringify(page.events, null, 2));
        else if (page.events.length === 0) ctx.io.out("no events");
        else ctx.io.out(table(page.events));
        return;
      }
      let closed: (reason: RoamError) => void;
      const ended = new Promise<RoamError>((resolve) => closed = resolve);
      const stop = () => closed(new RoamError("cancelled", "interrupted"));
      Deno.addSignalListener("SIGINT", stop);
      Deno.addSignalListener("SIGTERM", stop);
      const sub = await mesh.subscribe({ since: page.next, types }, (e) => ctx.io.out(line(e)));
      await mesh.onDisconnect((reason) => closed(reason));
      page.events.forEach((e) => ctx.io.out(line(e)));
      const reason = await ended;
      Deno.removeSignalListener("SIGINT", stop);
      Deno.removeSignalListener("SIGTERM", stop);
      await sub.close().catch(() => {});
      await mesh.close();
      if (reason.code !== "cancelled") {
        throw new RoamError("unavailable", `lost the host: ${reason.message}`, {});
      }
    });
}

function table(events: RoamEvent[]): string {
  return formatTable(events, [
    { header: "SEQ", value: (e) => String(e.seq) },
    { header: "TIME", value: (e) => e.ts.replace("T", " ").replace("Z", "") },
    { header: "TYPE", value: (e) => e.type },
    { header: "SUBJECT", value: (e) => e.subject ?? "-", max: 36 },
    { header: "DATA", value: (e) => JSON.stringify(e.data), max: 80 },
  ]);
}

function parseSeq(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new RoamError("invalid_input", `expected a whole number of 0 or more, got "${value}"`, {
      value,
    });
  }
  return n;
}
