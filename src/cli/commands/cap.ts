import type { Command } from "commander";
import { resolve } from "node:path";
import { RoamError } from "../../errors/mod.ts";
import { client, type CommandContext, printJson } from "../context.ts";
import { formatPairs, formatTable } from "../output.ts";
import { capCallCommand } from "./cap_call.ts"; // jobs (queue helper)

/** `roam cap ...`: install, inspect, start and stop capabilities, and read their logs. */
export function capCommand(program: Command, ctx: CommandContext): Command {
  const cap = program.command("cap")
    .description(
      "capabilities: heavy tools run as supervised worker processes in their own environments",
    )
    .addHelpText(
      "after",
      `
A capability is a plugin dir with a plugin.json of kind "capability" and a
worker script (Python with roam_worker, or Deno). See docs/capabilities.md.

Examples:
  roam cap add ./plugins/echo-py           install from a dir on the host's machine
  roam cap list
  roam cap start echo-py --config '{"prefix": ">"}'
  roam cap instances
  roam cap logs echo-py -n 50
  roam cap stop echo-py                     stop every instance of it
  roam cap remove echo-py                   stop it and uninstall it`,
    );

  cap.command("list")
    .alias("ls")
    .description("list the installed capabilities")
    .action(async () => {
      const mesh = await client(ctx);
      const { capabilities, problems } = await mesh.capability.list();
      if (ctx.global().json) return printJson(ctx, { capabilities, problems });
      for (const [name, why] of Object.entries(problems)) {
        ctx.io.err(`roam: skipped ${name}: ${why}`);
      }
      if (capabilities.length === 0) {
        return ctx.io.out("no capabilities installed; add one with 'roam cap add DIR'");
      }
      ctx.io.out(formatTable(capabilities, [
        { header: "NAME", value: (c) => c.name },
        { header: "VERSION", value: (c) => c.version },
        { header: "ENV", value: (c) => c.environment },
        { header: "RAM", value: (c) => `${c.resources.ramMb} MB` },
        { header: "VRAM", value: (c) => (c.resources.gpu ? `${c.resources.vramMb} MB` : "-") },
        { header: "RUNNING", value: (c) => String(c.instances) },
        { header: "DESCRIPTION", value: (c) => c.description || "-", max: 60 },
      ]));
    });

  cap.command("info")
    .description("show one capability: its manifest, dir and running instances")
    .argument("<name>", "the capability")
    .action(async (name: string) => {
      const mesh = await client(ctx);
      const info = await mesh.capability.info({ name });
      if (ctx.global().json) return printJson(ctx, info);
      ctx.io.out(formatPairs([
        ["name", info.name],
        ["version", info.version],
        ["description", info.description || "-"],
        ["environment", info.environment],
        [
          "resources",
          `RAM ${info.resources.ramMb} MB, VRAM ${info.resources.vramMb} MB, GPU ${
            info.resources.gpu ? "yes" : "no"
          }`,
        ],
        ["concurrency", String(info.concurrency)],
        ["methods", info.methods.join(", ") || "(known once an instance has started)"],
        ["dir", info.dir],
        ["running", info.running.map((i) => `${i.id} (pid ${i.pid})`).join(", ") || "none"],
      ]));
    });

  cap.command("add")
    .description("install a capability from a plugin dir on the host's machine")
    .argument("<dir>", "the plugin dir (holds plugin.json)")
    .action(async (dir: string) => {
      const mesh = await client(ctx);
      const added = await mesh.capability.add({ dir: resolve(dir) });
      if (ctx.global().json) return printJson(ctx, added);
      ctx.io.out(
        `${
          added.replaced ? "replaced" : "installed"
        } ${added.name} ${added.version} in ${added.dir}`,
      );
    });

  cap.command("remove")
    .alias("rm")
    .description("stop every instance of a capability and uninstall it")
    .argument("<name>", "the capability")
    .action(async (name: string) => {
      const mesh = await client(ctx);
      const result = await mesh.capability.remove({ name });
      if (ctx.global().json) return printJson(ctx, result);
      if (!result.removed) {
        throw new RoamError(
          "not_found",
          `no capability named ${name} is installed; see 'roam cap list'`,
        );
      }
      ctx.io.out(
        `removed ${name}${result.stopped.length ? ` (stopped ${result.stopped.join(", ")})` : ""}`,
      );
    });

  cap.command("start")
    .description("start an instance (or find a running one) of a capability with a config")
    .argument("<name>", "the capability")
    .option("--config <json>", "the instance's config as a JSON object", "{}")
    .action(async (name: string, opts: { config: string }) => {
      const config = parseConfig(opts.config);
      const mesh = await client(ctx);
      // Creating an environment can take minutes: show its progress on stderr meanwhile.
      const progress = ctx.global().json ? undefined : await mesh.subscribe(
        { types: ["capability.env_progress"] },
        (event) => {
          if (event.subject !== name) return;
          ctx.io.err(`${name}: ${(event.data as { line?: string }).line}`);
        },
      ).catch(() => undefined);
      let instance;
      try {
        instance = await mesh.capability.start({ name, config }, { timeoutMs: 3_600_000 });
      } finally {
        await progress?.close().catch(() => {});
        await mesh.close();
      }
      if (ctx.global().json) return printJson(ctx, instance);
      ctx.io.out(
        `${instance.id} ready (pid ${instance.pid}, started in ${instance.startMs} ms, ${instance.ramMb} MB)`,
      );
    });

  cap.command("stop")
    .description("stop an instance by id, or every instance of a capability by name")
    .argument("<target>", "an instance id or a capability name")
    .action(async (target: string) => {
      const mesh = await client(ctx);
      const { stopped } = await mesh.capability.stop({ target });
      if (ctx.global().json) return printJson(ctx, { stopped });
      ctx.io.out(
        stopped.length ? `stopped ${stopped.join(", ")}` : `nothing of ${target} was running`,
      );
    });

  cap.command("instances")
    .alias("ps")
    .description("list running instances with their memory")
    .argument("[name]", "only this capability's")
    .action(async (name?: string) => {
      const mesh = await client(ctx);
      const { instances } = await mesh.capability.instances({ name });
      if (ctx.global().json) return printJson(ctx, instances);
      if (instances.length === 0) return ctx.io.out("no instances running");
      ctx.io.out(formatTable(instances, [
        { header: "ID", value: (i) => i.id },
        { header: "PID", value: (i) => String(i.pid) },
        { header: "ACTIVE", value: (i) => String(i.active) },
        { header: "RAM", value: (i) => `${i.ramMb} MB (peak ${i.peakRamMb})` },
        { header: "VRAM", value: (i) => `${i.vramMb} MB (peak ${i.peakVramMb})` },
        { header: "LAST USED", value: (i) => i.lastUsedAt },
      ]));
    });

  cap.command("logs")
    .description("print the last lines a capability's workers and environment builds wrote")
    .argument("<name>", "the capability")
    .option("-n, --lines <n>", "lines per file", "100")
    .option("--files <n>", "how many of the newest files", "1")
    .action(async (name: string, opts: { lines: string; files: string }) => {
      const lines = positiveInt(opts.lines, "--lines");
      const files = positiveInt(opts.files, "--files");
      const mesh = await client(ctx);
      const result = await mesh.capability.logs({ name, lines, files });
      if (ctx.global().json) return printJson(ctx, result);
      if (result.files.length === 0) return ctx.io.out(`no logs of ${name} yet`);
      for (const file of result.files) {
        ctx.io.out(`== ${file.name} (${file.size} bytes, ${file.modifiedAt})`);
        if (file.lines.length) ctx.io.out(file.lines.join("\n"));
      }
    });
  capCallCommand(cap, ctx); // jobs (queue helper): `roam cap call`
  return cap;
}

function parseConfig(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RoamError("invalid_input", `--config is not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new RoamError("invalid_input", "--config must be a JSON object, like '{\"key\": 1}'");
  }
  return value as Record<string, unknown>;
}

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    throw new RoamError("invalid_input", `${flag} takes a positive whole number, not ${text}`);
  }
  return n;
}
