/**
 * `deno task bench`: measure roam's round trips, agent start-up, message
 * throughput and memory per agent (in both isolation modes, `process` and
 * `inline`) against floors measured in the same run, and against the
 * previous run.
 *
 * ```sh
 * deno task bench                  # 3000 calls per measurement (about a minute)
 * deno task bench --quick          # fewer calls, for a quick look (about 20 s)
 * deno task bench --filter inline  # only the benches whose name says inline
 * deno task bench --json           # the figures as JSON on stdout
 * ```
 *
 * Every server runs in its own subprocess so that the client never shares an
 * event loop with it. Each measurement is warmed up, then timed in short
 * rounds (100 calls by default) that alternate the order of the measurements,
 * so drift and bursts of load from elsewhere land on all of them alike.
 * Measurements whose calls are slow (creating agents, memory) take fewer
 * calls (their `limit`). The figures are saved to `.bench/last.json`; the
 * next run prints each figure's ratio to them.
 *
 * Exit status: 0 measured (even when a goal is missed, unless `--strict`),
 * 1 a bench could not run or `--strict` and a goal was missed, 2 bad arguments.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type BenchContext,
  type BenchDefinition,
  BENCHES,
  type Call,
  floorNames,
  type Measurement,
  MEASUREMENTS,
} from "./bench/definitions.ts";
import { compare, formatReport, readRecord, type RunRecord, writeRecord } from "./bench/record.ts";
import { startServer } from "./bench/server_process.ts";
import { summarize } from "./bench/stats.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const RECORD_PATH = join(ROOT, ".bench", "last.json");
const SERVER_FLAGS = ["--allow-all", "--unstable-net", "--unstable-worker-options", "--quiet"];

const USAGE = `usage: deno task bench [--quick] [--json] [--calls N] [--warmup N] [--rounds N]
                       [--filter TEXT] [--no-save] [--strict]
  --quick       600 calls after 200 warm-up calls, in 6 rounds (default 3000, 500, 30);
                slow measurements take fewer (their own limits)
  --rounds N    split the calls into N rounds that alternate the measurements' order
  --json        print the figures as JSON on stdout (progress still goes to stderr)
  --filter TEXT run only the benches whose name contains TEXT
  --no-save     do not write .bench/last.json
  --strict      exit 1 when a bench misses its goal`;

class UsageError extends Error {}

/** Runs deferred cleanups, last first, once. */
class Cleanup {
  #steps: (() => void | Promise<void>)[] = [];
  #closing: Promise<void> | undefined;

  defer(step: () => void | Promise<void>) {
    this.#steps.push(step);
  }

  close(): Promise<void> {
    return this.#closing ??= (async () => {
      while (this.#steps.length) {
        const step = this.#steps.pop()!;
        try {
          await step();
        } catch (error) {
          console.error(`bench: cleanup failed: ${(error as Error)?.message ?? error}`);
        }
      }
    })();
  }
}

function count(value: string | undefined, fallback: number, flag: string, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`${flag} takes a whole number of at least ${min}, not ${value}`);
  }
  return n;
}

function parseOptions(argv: string[]) {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        quick: { type: "boolean" },
        json: { type: "boolean" },
        calls: { type: "string" },
        warmup: { type: "string" },
        rounds: { type: "string" },
        filter: { type: "string" },
        "no-save": { type: "boolean" },
        strict: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const quick = values.quick ?? false;
  const calls = count(values.calls, quick ? 600 : 3000, "--calls", 1);
  return {
    help: values.help ?? false,
    quick,
    json: values.json ?? false,
    calls,
    warmup: count(values.warmup, quick ? 200 : 500, "--warmup", 0),
    rounds: Math.min(calls, count(values.rounds, quick ? 6 : 30, "--rounds", 1)),
    filter: values.filter,
    save: !values["no-save"],
    strict: values.strict ?? false,
  };
}

function selectBenches(filter: string | undefined): BenchDefinition[] {
  const selected = BENCHES.filter((bench) => filter === undefined || bench.name.includes(filter));
  if (selected.length === 0) {
    throw new UsageError(
      `no bench matches --filter ${filter}; there are: ${BENCHES.map((b) => b.name).join(", ")}`,
    );
  }
  for (const bench of selected) {
    for (const name of [bench.subject, ...floorNames(bench)]) {
      if (!MEASUREMENTS.some((m) => m.name === name)) {
        throw new Error(`bench "${bench.name}" names an unknown measurement "${name}"`);
      }
    }
  }
  return selected;
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));

/** Make `count` sequential calls; push into `into` the figure each returns, else its time. */
async function timeCalls(call: Call, count: number, into: number[]) {
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    const figure = await call();
    into.push(typeof figure === "number" ? figure : performance.now() - start);
  }
}

/** How many calls and warm-up calls a measurement takes in this run. */
function plan(
  measurement: Measurement,
  options: { calls: number; warmup: number; quick: boolean },
) {
  const limit = measurement.limit;
  if (!limit) return { calls: options.calls, warmup: options.warmup };
  return {
    calls: Math.min(options.calls, options.quick ? limit.quickCalls : limit.calls),
    warmup: Math.min(options.warmup, options.quick ? limit.quickWarmup : limit.warmup),
  };
}

async function run(argv: string[], cleanup: Cleanup): Promise<number> {
  const options = parseOptions(argv);
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const benches = selectBenches(options.filter);
  // Floors first, so the first round starts with them.
  const names = [...new Set(benches.flatMap((b) => [...floorNames(b), b.subject]))];
  const measurements = names.map((name) => MEASUREMENTS.find((m) => m.name === name)!);
  const plans = new Map(measurements.map((m) => [m.name, plan(m, options)]));
  const progress = (line: string) => console.error(`bench: ${line}`);

  const context: BenchContext = {
    root: ROOT,
    startServer: async (script, args = []) => {
      const server = await startServer({
        script: join(ROOT, "scripts", "bench", script),
        args,
        denoFlags: SERVER_FLAGS,
        cwd: ROOT,
      });
      cleanup.defer(() => server.stop());
      return { url: server.url, pid: server.pid };
    },
    makeTempDir: async (prefix) => {
      const dir = await Deno.makeTempDir({ prefix });
      cleanup.defer(() => Deno.remove(dir, { recursive: true }).catch(() => {}));
      return dir;
    },
    defer: (step) => cleanup.defer(step),
  };

  progress(`starting ${names.join(", ")}`);
  const calls = new Map<string, Call>();
  for (const measurement of measurements) {
    calls.set(measurement.name, await measurement.setup(context));
  }
  progress(`warming up (at most ${options.warmup} calls each)`);
  for (const name of names) await timeCalls(calls.get(name)!, plans.get(name)!.warmup, []);

  const samples = new Map(names.map((name) => [name, [] as number[]]));
  for (let round = 0; round < options.rounds; round++) {
    const share = (name: string) => {
      const total = plans.get(name)!.calls;
      return Math.floor(((round + 1) * total) / options.rounds) -
        Math.floor((round * total) / options.rounds);
    };
    const order = (round % 2 ? [...names].reverse() : names).filter((name) => share(name) > 0);
    progress(
      `round ${round + 1}/${options.rounds}: ${order.map((n) => `${n} x${share(n)}`).join(", ")}`,
    );
    for (const name of order) await timeCalls(calls.get(name)!, share(name), samples.get(name)!);
  }
  await cleanup.close();

  const record: RunRecord = {
    version: 2,
    at: new Date().toISOString(),
    machine: {
      deno: Deno.version.deno,
      os: Deno.build.os,
      arch: Deno.build.arch,
      cpus: navigator.hardwareConcurrency,
    },
    options: {
      calls: options.calls,
      warmup: options.warmup,
      rounds: options.rounds,
      quick: options.quick,
    },
    measurements: Object.fromEntries(measurements.map((m) => {
      const figures = summarize(samples.get(m.name)!);
      return [m.name, {
        summary: m.summary,
        unit: m.unit ?? "ms",
        calls: figures.calls,
        median: round(figures.median, 6),
        p99: round(figures.p99, 6),
        mean: round(figures.mean, 6),
        min: round(figures.min, 6),
      }];
    })),
    benches: [],
  };
  for (const bench of benches) {
    const floor = floorNames(bench).reduce(
      (sum, name) => sum + record.measurements[name].median,
      0,
    );
    const ratio = record.measurements[bench.subject].median / floor;
    record.benches.push({
      name: bench.name,
      subject: bench.subject,
      floor: [...floorNames(bench)],
      goal: bench.goal ?? null,
      ratio: round(ratio, 4),
      pass: bench.goal === undefined ? null : ratio <= bench.goal,
    });
  }

  const previous = await readRecord(RECORD_PATH);
  const comparison = previous ? compare(record, previous) : null;
  if (options.json) console.log(JSON.stringify({ ...record, previous: comparison }, null, 2));
  else console.log(formatReport(record, comparison));
  if (options.save) {
    await Deno.mkdir(dirname(RECORD_PATH), { recursive: true });
    await writeRecord(RECORD_PATH, record);
    progress(`saved ${RECORD_PATH}`);
  }
  return options.strict && record.benches.some((b) => b.pass === false) ? 1 : 0;
}

if (import.meta.main) {
  const cleanup = new Cleanup();
  let stoppedBy: Deno.Signal | undefined;
  const interrupted = (signal: Deno.Signal, code: number) => () => {
    stoppedBy = signal;
    console.error(`bench: ${signal}; stopping the servers`);
    void cleanup.close().finally(() => Deno.exit(code));
  };
  Deno.addSignalListener("SIGINT", interrupted("SIGINT", 130));
  Deno.addSignalListener("SIGTERM", interrupted("SIGTERM", 143));
  let code = 1;
  try {
    code = await run(Deno.args, cleanup);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`bench: ${error.message}\n${USAGE}`);
      code = 2;
    } else if (!stoppedBy) {
      // After a signal, calls fail because their servers are going; that is no news.
      console.error(`bench: failed: ${(error as Error)?.message ?? String(error)}`);
    }
  } finally {
    await cleanup.close();
  }
  Deno.exit(code);
}
