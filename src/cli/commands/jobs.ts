import type { Command } from "commander";
import type { ResultOf } from "../../api/mod.ts";
import { RoamError } from "../../errors/mod.ts";
import { parseDuration } from "../../security/mod.ts";
import { client, type CommandContext, printJson } from "../context.ts";
import { formatPairs, formatTable } from "../output.ts";

type Job = ResultOf<"job.get">;

/** Parse a JSON argument, or fail as a usage error naming it. */
export function parseJsonArg(what: string, text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RoamError(
      "invalid_input",
      `${what} are not valid JSON: ${(error as Error).message}`,
      {},
    );
  }
}

/** Parse `--priority`. */
export function parsePriority(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 100) {
    throw new RoamError(
      "invalid_input",
      `--priority is a whole number from 0 to 100, not "${text}"`,
      {},
    );
  }
  return n;
}

/** Parse `--limit`. */
function parseLimit(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw new RoamError(
      "invalid_input",
      `--limit is a whole number from 1 to 1000, not "${text}"`,
      {},
    );
  }
  return n;
}

/** The options `roam jobs submit` and `roam cap call` share. */
export function jobOptions(command: Command): Command {
  return command
    .option("--config <json>", "the capability's config as JSON (one instance per distinct config)")
    .option("--priority <n>", "0 to 100, higher runs first (default 5)", parsePriority)
    .option("--timeout <duration>", "time limit of the call, like 30s or 5m")
    .option("--to <host>", "run it on this host of the mesh (a name, an id or a URL)");
}

/** Params of `job.submit` from a command's arguments and options. */
export function submitParams(
  name: string,
  method: string,
  args: string | undefined,
  opts: { config?: string; priority?: number; timeout?: string; to?: string },
) {
  return {
    capability: name,
    method,
    args: parseJsonArg("args", args),
    config: parseJsonArg("--config values", opts.config),
    priority: opts.priority,
    timeoutMs: opts.timeout ? parseDuration(opts.timeout) : undefined,
    to: opts.to,
  };
}

function where(job: Job): string {
  return job.host ? ` on ${job.host}` : "";
}

function line(job: Job): string {
  if (job.status === "queued") {
    return `job ${job.id} queued${where(job)}${
      job.position ? ` (position ${job.position}: ${job.reason})` : ""
    }`;
  }
  if (job.status === "failed" || job.status === "cancelled") {
    return `job ${job.id} ${job.status}${where(job)}: ${job.error?.message ?? ""}`;
  }
  return `job ${job.id} ${job.status}${where(job)}`;
}

function details(ctx: CommandContext, job: Job): void {
  const pairs: [string, string][] = [
    ["id", job.id],
    ["capability", `${job.capability}.${job.method}`],
    ["status", job.status],
    ["priority", String(job.priority)],
    ["attempts", String(job.attempts)],
  ];
  if (job.position) pairs.push(["waiting", `position ${job.position}: ${job.reason}`]);
  if (job.host) pairs.push(["host", `${job.host} (job ${job.remoteId} there)`]);
  if (job.instanceId) pairs.push(["instance", job.instanceId]);
  pairs.push(["created", job.createdAt]);
  if (job.startedAt) pairs.push(["started", job.startedAt]);
  if (job.endedAt) pairs.push(["ended", job.endedAt]);
  if (job.progress) {
    pairs.push([
      "progress",
      `${
        job.progress.fraction === undefined ? "" : `${Math.round(job.progress.fraction * 100)}% `
      }${job.progress.message ?? ""}`,
    ]);
  }
  if (job.error) {
    pairs.push(["error", `${job.error.code} (${job.error.category ?? "-"}): ${job.error.message}`]);
  }
  if (job.result !== undefined) pairs.push(["result", JSON.stringify(job.result)]);
  ctx.io.out(formatPairs(pairs));
  if (job.journal?.length) {
    ctx.io.out("");
    ctx.io.out(formatTable(job.journal, [
      { header: "TIME", value: (e) => new Date(e.ts).toISOString() },
      { header: "ATTEMPT", value: (e) => String(e.attempt) },
      { header: "EVENT", value: (e) => e.event },
      { header: "DETAIL", value: (e) => JSON.stringify(e.data), max: 100 },
    ]));
  }
}

/** `roam jobs ...`: the capability job queue. */
export function jobsCommand(program: Command, ctx: CommandContext): void {
  const jobs = program.command("jobs")
    .description("the job queue of capability calls: list, inspect, wait for, cancel, submit")
    .addHelpText(
      "after",
      `
Jobs run highest priority first (first in, first out within a priority), each
once its capability's instance has a free call slot and the host has the RAM
and VRAM it needs. A queued job says why it waits. See docs/jobs.md.

Examples:
  roam jobs submit echo-py echo '{"text": "hi"}' --priority 9
  roam jobs ls --status queued
  roam jobs get JOB --journal
  roam jobs wait JOB --timeout 5m
  roam jobs cancel JOB
  roam jobs resources`,
    );

  jobs.command("ls")
    .alias("list")
    .description("list jobs, newest first")
    .option("--status <status>", "only queued, running, succeeded, failed or cancelled jobs")
    .option("--capability <name>", "only jobs of this capability")
    .option("-n, --limit <n>", "at most this many, 1 to 1000 (default 100)", parseLimit)
    .action(async (opts) => {
      const mesh = await client(ctx);
      const { jobs } = await mesh.job.list({
        status: opts.status,
        capability: opts.capability,
        limit: opts.limit,
      });
      if (ctx.global().json) return printJson(ctx, jobs);
      if (jobs.length === 0) return ctx.io.out("no jobs");
      ctx.io.out(formatTable(jobs, [
        { header: "ID", value: (j) => j.id.slice(0, 8) },
        { header: "CAPABILITY", value: (j) => j.capability },
        { header: "METHOD", value: (j) => j.method },
        { header: "PRIORITY", value: (j) => String(j.priority) },
        { header: "STATUS", value: (j) => j.status + where(j) },
        {
          header: "DETAIL",
          value: (j) =>
            j.status === "queued" && j.position
              ? `#${j.position}: ${j.reason}`
              : j.error
              ? `${j.error.code}: ${j.error.message}`
              : j.attempts > 1
              ? `${j.attempts} attempts`
              : "",
          max: 100,
        },
      ]));
    });

  jobs.command("get")
    .description("show a job: where it stands, why it waits, its result or error")
    .argument("<id>", "the job id")
    .option("--journal", "also show its journal (every attempt)")
    .action(async (id: string, opts) => {
      const mesh = await client(ctx);
      const job = await mesh.job.get({ id, journal: opts.journal === true });
      if (ctx.global().json) return printJson(ctx, job);
      details(ctx, job);
    });

  jobs.command("wait")
    .description("wait until a job has finished and print it; exit 1 if it failed or was cancelled")
    .argument("<id>", "the job id")
    .option("--timeout <duration>", "give up after this long, like 30s or 10m (default 10m)")
    .action(async (id: string, opts) => {
      const timeoutMs = opts.timeout ? parseDuration(opts.timeout) : 600_000;
      const mesh = await client(ctx);
      const job = await mesh.job.wait({ id, timeoutMs }, { timeoutMs: timeoutMs + 30_000 });
      if (ctx.global().json) printJson(ctx, job);
      else details(ctx, job);
      if (job.status === "queued" || job.status === "running") {
        throw new RoamError(
          "timeout",
          `job ${id} is still ${job.status} after ${opts.timeout ?? "10m"}`,
          {},
        );
      }
      if (job.status !== "succeeded") {
        throw new RoamError("unavailable", `job ${id} ${job.status}`, {});
      }
    });

  jobs.command("cancel")
    .description("cancel a job (a running one has its call cancelled in the worker)")
    .argument("<id>", "the job id")
    .action(async (id: string) => {
      const mesh = await client(ctx);
      const job = await mesh.job.cancel({ id });
      if (ctx.global().json) return printJson(ctx, job);
      ctx.io.out(line(job));
    });

  jobs.command("resources")
    .description(
      "what the queue admits against: RAM and each GPU (budget, committed, free) and every instance",
    )
    .action(async () => {
      const mesh = await client(ctx);
      const r = await mesh.job.resources();
      if (ctx.global().json) return printJson(ctx, r);
      const mb = (n: number) => `${Math.round(n)} MB`;
      ctx.io.out(formatTable(r.pools, [
        { header: "POOL", value: (p) => p.label },
        { header: "TOTAL", value: (p) => p.totalMb ? mb(p.totalMb) : "unknown" },
        { header: "OUTSIDE ROAM", value: (p) => mb(p.outsideMb) },
        { header: "RESERVE", value: (p) => mb(p.reserveMb) },
        { header: "COMMITTED", value: (p) => mb(p.committedMb) },
        { header: "FREE", value: (p) => p.totalMb ? mb(p.freeMb) : "-" },
      ]));
      ctx.io.out("");
      if (r.instances.length === 0) ctx.io.out("no instances");
      else {
        ctx.io.out(formatTable(r.instances, [
          { header: "INSTANCE", value: (i) => i.id },
          { header: "STATE", value: (i) => i.state },
          { header: "CALLS", value: (i) => `${i.active}/${i.concurrency}` },
          { header: "GPU", value: (i) => i.gpu ?? "-" },
          { header: "RAM", value: (i) => `${mb(i.ramMb)} (peak ${mb(i.peakRamMb)})` },
          { header: "VRAM", value: (i) => `${mb(i.vramMb)} (peak ${mb(i.peakVramMb)})` },
        ]));
      }
      ctx.io.out(`\n${r.running} jobs running, ${r.queued} queued`);
    });

  jobOptions(
    jobs.command("submit")
      .description("queue a call of a capability's method and print its job id")
      .argument("<capability>", "the capability name")
      .argument("<method>", "the method")
      .argument("[args]", "its arguments as JSON"),
  ).action(async (name: string, method: string, args: string | undefined, opts) => {
    const params = submitParams(name, method, args, opts);
    const mesh = await client(ctx);
    const job = await mesh.job.submit(params);
    if (ctx.global().json) return printJson(ctx, job);
    ctx.io.out(line(job));
  });
}
