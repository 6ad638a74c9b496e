/**
 * What `deno task bench` measures. A {@linkcode Measurement} times one kind of
 * call; a {@linkcode BenchDefinition} holds one measurement against a floor
 * (another measurement taken in the same run, or the sum of several) with a
 * goal for their ratio.
 *
 * To add a bench: add the measurement(s) it needs to {@linkcode MEASUREMENTS}
 * (a floor may be shared by many benches) and one line to
 * {@linkcode BENCHES}. Measurements that no selected bench names are not set
 * up.
 *
 * @module
 */
import { agentHost, type Isolation, ISOLATIONS, openWs } from "./agent_host.ts";
import { treeRssBytes, waitForIdle } from "./proc.ts";
import { BareWorker } from "./workers.ts";
import { MESH_BENCHES, MESH_MEASUREMENTS } from "./mesh.ts";
import { MEMORY_BENCHES, MEMORY_MEASUREMENTS } from "./memory.ts"; // memory
import { CAPABILITY_BENCHES, CAPABILITY_MEASUREMENTS } from "./capabilities.ts"; // capabilities (runtime)
import { JOB_BENCHES, JOB_MEASUREMENTS } from "./jobs.ts"; // jobs (queue)
import { ARTIFACT_BENCHES, ARTIFACT_MEASUREMENTS } from "./artifacts.ts"; // artifacts

/**
 * One call to measure; it throws when the answer is wrong. It returns
 * nothing, and the bench times it; or it returns the figure it measured
 * itself, in its measurement's {@linkcode Unit}: a call that does work that
 * must not count (cleaning up, waiting for a host to settle), that times many
 * operations and divides, or whose figure is not a time.
 */
export type Call = () => Promise<void | number>;

/**
 * What a measurement's figures are: `ms` per call; `ms/msg`, milliseconds
 * per message of a stream (shown as messages per second); `MiB` of memory;
 * `B/s`, bytes sent per second. Lower is better for all four.
 */
export type Unit = "ms" | "ms/msg" | "MiB" | "B/s";

/** What a measurement's setup may use; everything it starts is stopped when the run ends. */
export interface BenchContext {
  /** The repository root. */
  readonly root: string;
  /**
   * Start a server script from `scripts/bench/` in its own `deno run`
   * subprocess (with the project's permission and unstable flags) and return
   * the URL it printed and its process id. It is stopped when the run ends.
   */
  startServer(script: string, args?: string[]): Promise<{ url: string; pid: number }>;
  /** A fresh temporary directory, removed when the run ends. */
  makeTempDir(prefix: string): Promise<string>;
  /** Run `cleanup` when the run ends, after everything set up later has been cleaned. */
  defer(cleanup: () => void | Promise<void>): void;
}

/** Most calls and warm-up calls of a measurement whose calls are slow. */
export interface CallLimit {
  /** Most calls in a full run. */
  calls: number;
  /** Most warm-up calls in a full run. */
  warmup: number;
  /** Most calls in a `--quick` run. */
  quickCalls: number;
  /** Most warm-up calls in a `--quick` run. */
  quickWarmup: number;
}

/** One kind of measured call. */
export interface Measurement {
  /** Stable name, the key in `.bench/last.json`. */
  name: string;
  /** What one call is, for the table. */
  summary: string;
  /** What its figures are. Default `ms`. */
  unit?: Unit;
  /** Caps on the run's `--calls` and `--warmup`, for slow calls. Default: none. */
  limit?: CallLimit;
  /** Start what the calls need and return the call. */
  setup(context: BenchContext): Promise<Call>;
}

/** A measurement held to a floor measured in the same run. */
export interface BenchDefinition {
  /** Stable name, the key in `.bench/last.json`. */
  name: string;
  /** The measurement judged. */
  subject: string;
  /**
   * The floor's measurement: the best that can be done for this kind of
   * call. Several names: the floor is the sum of their medians (a call that
   * crosses HTTP and then a worker is held to both floors added).
   */
  floor: string | readonly string[];
  /**
   * Highest acceptable ratio of the subject's median to the floor's median;
   * none: the ratio is reported, not judged.
   */
  goal?: number;
}

/** The measurement names a bench's floor adds up. */
export function floorNames(bench: BenchDefinition): readonly string[] {
  return typeof bench.floor === "string" ? [bench.floor] : bench.floor;
}

/** Options for {@linkcode jsonRpcPost}. */
export interface PostOptions {
  /** The method to call. */
  method: string;
  /** Its params. Default `{}`. */
  params?: Record<string, unknown>;
  /** A bearer token to send. Default: none. */
  token?: string;
  /** Whether the result is the right answer. Default: it has `ok: true`. */
  check?: (result: unknown) => boolean;
}

/**
 * A call that POSTs one JSON-RPC request (the same bytes every time) over
 * its own keep-alive HTTP client and checks the result.
 */
export function jsonRpcPost(context: BenchContext, url: string, options: PostOptions): Call {
  const client = Deno.createHttpClient({});
  context.defer(() => client.close());
  const { method } = options;
  const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: options.params ?? {} });
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const check = options.check ?? ((result) => (result as { ok?: unknown })?.ok === true);
  return async () => {
    const response = await fetch(url, { method: "POST", headers, body, client });
    const reply = await response.json();
    if (response.status !== 200 || !check(reply?.result)) {
      throw new Error(
        `${method} at ${url} answered ${response.status}: ${JSON.stringify(reply).slice(0, 300)}`,
      );
    }
  };
}

/** Agents per sample of the idle-memory measurements. */
const IDLE_AGENTS = 20;
/** Round trips per call of the agent-to-agent measurements. */
const VOLLEY = 50;
/** Messages per call of the throughput measurements. */
const STREAM = 500;
/** Calls in flight at once in the throughput measurements (a host's default per WebSocket). */
const IN_FLIGHT = 64;
const MiB = 1024 * 1024;

/**
 * Wait until the host and its runners have gone quiet (a process-mode create
 * starts the next spare runner, which takes a while and two cores' worth of
 * CPU), so that no call pays for the one before it.
 */
const settle = (pid: number) => waitForIdle(pid, { windowMs: 50, timeoutMs: 5_000 });

/** A relay pair of bare workers: A's volley pings go to B and B's answers back to A. */
function relayPair(context: BenchContext): BareWorker {
  const a = new BareWorker();
  const b = new BareWorker();
  a.relayTo(b);
  context.defer(() => {
    a.terminate();
    b.terminate();
  });
  return a;
}

/** Floors for the agent benches: bare workers with every permission denied. */
const WORKER_FLOORS: Measurement[] = [
  {
    name: "worker.spawn",
    summary: "bare worker: new Worker (permissions all denied), post, until its first answer",
    limit: { calls: 60, warmup: 5, quickCalls: 20, quickWarmup: 3 },
    setup: () =>
      Promise.resolve(async () => {
        const start = performance.now();
        const worker = new BareWorker();
        try {
          const reply = await worker.request({ op: "echo", v: 1 });
          const ms = performance.now() - start;
          if (reply.v !== 1) throw new Error(`a bare worker answered ${reply.v}, not 1`);
          return ms;
        } finally {
          worker.terminate();
        }
      }),
  },
  {
    name: "worker.postMessage",
    summary: "bare worker: postMessage round trip",
    setup: async (context) => {
      const worker = new BareWorker();
      context.defer(() => worker.terminate());
      await worker.request({ op: "echo", v: 0 });
      return async () => {
        const reply = await worker.request({ op: "echo", v: 1 });
        if (reply.v !== 1) throw new Error(`a bare worker answered ${reply.v}, not 1`);
      };
    },
  },
  {
    name: "worker.relay",
    summary:
      `bare workers A -> main -> B -> main -> A round trip; ${VOLLEY} per call, timed inside A`,
    limit: { calls: 200, warmup: 20, quickCalls: 60, quickWarmup: 10 },
    setup: (context) => {
      const a = relayPair(context);
      return Promise.resolve(async () => {
        const reply = await a.request({ op: "volley", n: VOLLEY });
        return (reply.v as number) / VOLLEY;
      });
    },
  },
  {
    name: "worker.msgs",
    summary: `bare worker: ${STREAM} postMessages it counts, then one it answers`,
    unit: "ms/msg",
    limit: { calls: 200, warmup: 20, quickCalls: 60, quickWarmup: 10 },
    setup: async (context) => {
      const worker = new BareWorker();
      context.defer(() => worker.terminate());
      await worker.request({ op: "total" });
      return async () => {
        const start = performance.now();
        for (let i = 0; i < STREAM; i++) worker.post({ op: "count" });
        const reply = await worker.request({ op: "total" });
        const ms = performance.now() - start;
        if (reply.v !== STREAM) throw new Error(`a bare worker counted ${reply.v}, not ${STREAM}`);
        return ms / STREAM;
      };
    },
  },
  {
    name: "worker.idle-rss",
    summary: `bare idle worker: resident memory it adds to a Deno process (${IDLE_AGENTS} of them)`,
    unit: "MiB",
    limit: { calls: 3, warmup: 0, quickCalls: 1, quickWarmup: 0 },
    setup: (context) =>
      Promise.resolve(async () => {
        const output = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--allow-read",
            "--unstable-worker-options",
            "--quiet",
            `${context.root}/scripts/bench/idle_workers.ts`,
            String(IDLE_AGENTS),
          ],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder().decode(output.stdout).trim();
        const bytes = output.success ? JSON.parse(text)?.bytesPerWorker : undefined;
        if (typeof bytes !== "number") {
          throw new Error(
            `idle_workers.ts failed: ${text} ${
              new TextDecoder().decode(output.stderr).slice(-500)
            }`,
          );
        }
        return bytes / MiB;
      }),
  },
];

/** The agent measurements of one isolation mode. */
function agentMeasurements(isolation: Isolation): Measurement[] {
  return [
    {
      name: `agent.create/${isolation}`,
      summary: `roam host, ${isolation} isolation: agent.create, then agent.send echo, ` +
        `until its reply${isolation === "process" ? " (a spare runner waiting)" : ""}`,
      limit: { calls: 40, warmup: 2, quickCalls: 12, quickWarmup: 1 },
      setup: async (context) => {
        const host = await agentHost(context);
        const plugin = host.plugin(isolation);
        const once = async () => {
          const start = performance.now();
          const { id } = await host.rpc("agent.create", { plugin }) as { id: string };
          const sent = await host.rpc("agent.send", { id, kind: "echo", args: 1 }) as {
            reply?: unknown;
          };
          const ms = performance.now() - start;
          await host.rpc("agent.dispose", { id });
          if (sent?.reply !== 1) throw new Error(`agent ${id} answered ${JSON.stringify(sent)}`);
          await settle(host.pid);
          return ms;
        };
        await once(); // the first create starts the spare runner later ones find waiting
        return once;
      },
    },
    {
      name: `agent.send/${isolation}`,
      summary: `roam host, ${isolation} isolation: agent.send echo over HTTP with a token`,
      setup: async (context) => {
        const host = await agentHost(context);
        const id = await host.createAgent(isolation);
        return jsonRpcPost(context, `${host.url}/rpc`, {
          method: "agent.send",
          params: { id, kind: "echo", args: 1 },
          token: host.token,
          check: (result) => (result as { reply?: unknown })?.reply === 1,
        });
      },
    },
    {
      name: `agent.relay/${isolation}`,
      summary: `roam host, ${isolation} isolation: ctx.send echo round trip between two ` +
        `agents; ${VOLLEY} per agent.send volley, timed inside the agent`,
      limit: { calls: 200, warmup: 20, quickCalls: 60, quickWarmup: 10 },
      setup: async (context) => {
        const host = await agentHost(context);
        const a = await host.createAgent(isolation);
        const b = await host.createAgent(isolation);
        const params = { id: a, kind: "volley", args: { peer: b, n: VOLLEY } };
        return async () => {
          const sent = await host.rpc("agent.send", params) as { reply?: { ms?: number } };
          const ms = sent?.reply?.ms;
          if (typeof ms !== "number") throw new Error(`volley answered ${JSON.stringify(sent)}`);
          return ms / VOLLEY;
        };
      },
    },
    {
      name: `agent.msgs/${isolation}`,
      summary: `roam host, ${isolation} isolation: ${STREAM} one-way agent.send over a ` +
        `WebSocket, ${IN_FLIGHT} in flight, counted by the agent, then agent.send total`,
      unit: "ms/msg",
      limit: { calls: 60, warmup: 10, quickCalls: 20, quickWarmup: 5 },
      setup: async (context) => {
        const host = await agentHost(context);
        const id = await host.createAgent(isolation);
        const ws = await openWs(context, host.url, host.token);
        const count = { method: "agent.send", params: { id, kind: "count", oneway: true } };
        return async () => {
          const start = performance.now();
          await ws.pipeline(STREAM, IN_FLIGHT, () => count);
          const total = await ws.call("agent.send", { id, kind: "total" }) as { reply?: unknown };
          const ms = performance.now() - start;
          if (total?.reply !== STREAM) {
            throw new Error(`agent ${id} counted ${JSON.stringify(total)}, not ${STREAM}`);
          }
          return ms / STREAM;
        };
      },
    },
    {
      name: `agent.idle-rss/${isolation}`,
      summary: `roam host, ${isolation} isolation: resident memory an idle agent adds to ` +
        `the host and its runner processes (${IDLE_AGENTS} of them)`,
      unit: "MiB",
      limit: { calls: 3, warmup: 0, quickCalls: 1, quickWarmup: 0 },
      setup: async (context) => {
        const host = await agentHost(context);
        const plugin = host.plugin(isolation);
        return async () => {
          await settle(host.pid);
          const before = await treeRssBytes(host.pid);
          const ids: string[] = [];
          try {
            for (let i = 0; i < IDLE_AGENTS; i++) {
              ids.push((await host.rpc("agent.create", { plugin }) as { id: string }).id);
            }
            await settle(host.pid);
            return (await treeRssBytes(host.pid) - before) / IDLE_AGENTS / MiB;
          } finally {
            for (const id of ids) await host.rpc("agent.dispose", { id }).catch(() => {});
            await settle(host.pid);
          }
        };
      },
    },
  ];
}

/** Every measurement a bench may name. */
export const MEASUREMENTS: readonly Measurement[] = [
  {
    name: "deno.serve/http",
    summary: "bare Deno.serve: POST a JSON body, small JSON reply",
    setup: async (context) =>
      jsonRpcPost(context, `${(await context.startServer("bare_server.ts")).url}/rpc`, {
        method: "host.health",
      }),
  },
  {
    name: "host.health/http",
    summary: "roam host: JSON-RPC host.health over HTTP, no token",
    setup: async (context) => {
      const dataDir = await context.makeTempDir("roam-bench-host-");
      const { url } = await context.startServer("host_server.ts", [
        "--data-dir",
        dataDir,
        "--remove-data-dir",
      ]);
      return jsonRpcPost(context, `${url}/rpc`, { method: "host.health" });
    },
  },
  {
    name: "deno.serve+worker/http",
    summary: "bare Deno.serve whose handler awaits a bare worker postMessage round trip",
    setup: async (context) =>
      jsonRpcPost(context, `${(await context.startServer("bare_worker_server.ts")).url}/rpc`, {
        method: "echo",
      }),
  },
  ...WORKER_FLOORS,
  ...ISOLATIONS.flatMap(agentMeasurements),
  ...MESH_MEASUREMENTS,
  ...MEMORY_MEASUREMENTS, // memory
  ...CAPABILITY_MEASUREMENTS, // capabilities (runtime)
  ...JOB_MEASUREMENTS, // jobs (queue)
  ...ARTIFACT_MEASUREMENTS, // artifacts
];

/** The benches of one isolation mode (issue 3, point 11). */
function agentBenches(isolation: Isolation): BenchDefinition[] {
  return [
    {
      name: `create -> first reply, ${isolation}`,
      subject: `agent.create/${isolation}`,
      floor: "worker.spawn",
      goal: 2,
    },
    {
      name: `RPC -> agent round trip, ${isolation}`,
      subject: `agent.send/${isolation}`,
      floor: ["deno.serve/http", "worker.postMessage"],
      goal: 2,
    },
    {
      name: `RPC -> agent round trip vs serve+worker, ${isolation}`,
      subject: `agent.send/${isolation}`,
      floor: "deno.serve+worker/http",
    },
    {
      name: `agent -> agent round trip, ${isolation}`,
      subject: `agent.relay/${isolation}`,
      floor: "worker.relay",
      goal: 2,
    },
    {
      name: `messages per second, ${isolation}`,
      subject: `agent.msgs/${isolation}`,
      floor: "worker.msgs",
    },
    {
      name: `memory per idle agent, ${isolation}`,
      subject: `agent.idle-rss/${isolation}`,
      floor: "worker.idle-rss",
    },
  ];
}

/** The benches `deno task bench` runs. */
export const BENCHES: readonly BenchDefinition[] = [
  {
    name: "host.health over HTTP",
    subject: "host.health/http",
    floor: "deno.serve/http",
    goal: 1.5,
  },
  ...ISOLATIONS.flatMap(agentBenches),
  ...MESH_BENCHES,
  ...MEMORY_BENCHES, // memory
  ...CAPABILITY_BENCHES, // capabilities (runtime)
  ...JOB_BENCHES, // jobs (queue)
  ...ARTIFACT_BENCHES, // artifacts
];
