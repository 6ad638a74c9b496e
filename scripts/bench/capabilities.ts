/**
 * The capability runtime's benches: a call to a warm Python capability
 * (echo-py) against a bare Python HTTP round trip, and a cold start (a new
 * instance until its first answer) against spawning the bare Python server
 * until its first answer. Run only these with `deno task bench --filter capability`.
 *
 * @module
 */
import { join } from "node:path";
import { CapabilityHost } from "../../src/capabilities/mod.ts";
import type { BenchContext, BenchDefinition, Measurement } from "./definitions.ts";

const BARE_ECHO = new URL("./fixtures/bare_python_echo.py", import.meta.url).pathname;
const PORT_LINE = /ROAM_WORKER_PORT=(\d+)/;

/** Spawn the bare Python echo server; resolves with its port once it printed it. */
async function spawnBare(): Promise<{ port: number; child: Deno.ChildProcess }> {
  const child = new Deno.Command("python3", {
    args: ["-u", BARE_ECHO],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!PORT_LINE.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the bare Python echo server exited before printing its port");
    text += value;
  }
  reader.releaseLock();
  void child.stdout.cancel().catch(() => {});
  return { port: Number(PORT_LINE.exec(text)![1]), child };
}

async function post(client: Deno.HttpClient, port: number, value: unknown): Promise<unknown> {
  const response = await fetch(`http://127.0.0.1:${port}/`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(value),
    client,
  });
  return ((await response.json()) as { result: unknown }).result;
}

async function runtimeWithEcho(context: BenchContext): Promise<CapabilityHost> {
  const dataDir = await context.makeTempDir("roam-bench-caps-");
  const runtime = new CapabilityHost({ dataDir });
  context.defer(() => runtime.close());
  await runtime.add(join(context.root, "plugins", "echo-py"));
  return runtime;
}

/** The measurements. */
export const CAPABILITY_MEASUREMENTS: Measurement[] = [
  {
    name: "python.http/bare",
    summary: "bare Python http.server (keep-alive): POST a small JSON body, JSON echo back",
    setup: async (context) => {
      const { port, child } = await spawnBare();
      const client = Deno.createHttpClient({});
      context.defer(async () => {
        client.close();
        child.kill("SIGKILL");
        await child.status;
      });
      return async () => {
        const reply = await post(client, port, { v: 1 }) as { v: number };
        if (reply.v !== 1) throw new Error(`the bare echo answered ${JSON.stringify(reply)}`);
      };
    },
  },
  {
    name: "capability.call/echo-py",
    summary:
      "warm echo-py instance: execute('echo', {v: 1}) through the runtime (token, call id, checked reply)",
    setup: async (context) => {
      const runtime = await runtimeWithEcho(context);
      const instance = await runtime.instance("echo-py", {});
      return async () => {
        const reply = await instance.execute("echo", { v: 1 }) as { echo: { v: number } };
        if (reply.echo.v !== 1) throw new Error(`echo-py answered ${JSON.stringify(reply)}`);
      };
    },
  },
  {
    name: "python.spawn/bare",
    summary: "spawn the bare Python echo server until its first answer",
    limit: { calls: 40, warmup: 3, quickCalls: 12, quickWarmup: 2 },
    setup: () =>
      Promise.resolve(async () => {
        const start = performance.now();
        const { port, child } = await spawnBare();
        const client = Deno.createHttpClient({});
        try {
          await post(client, port, { v: 1 });
          return performance.now() - start;
        } finally {
          client.close();
          child.kill("SIGKILL");
          await child.status;
        }
      }),
  },
  {
    name: "capability.cold-start/echo-py",
    summary:
      "new echo-py instance (process group, watchdog, port, info, initialize) until its first answer",
    limit: { calls: 40, warmup: 3, quickCalls: 12, quickWarmup: 2 },
    setup: async (context) => {
      const runtime = await runtimeWithEcho(context);
      let n = 0;
      return async () => {
        const start = performance.now();
        // A new config each time, so no running instance is reused.
        const instance = await runtime.instance("echo-py", { prefix: String(n++) });
        await instance.execute("echo", { v: 1 });
        const ms = performance.now() - start;
        await instance.stop("bench");
        return ms;
      };
    },
  },
];

/** The benches. */
export const CAPABILITY_BENCHES: BenchDefinition[] = [
  {
    name: "capability call round trip (echo-py, warm)",
    subject: "capability.call/echo-py",
    floor: "python.http/bare",
    goal: 1.5,
  },
  {
    name: "capability cold start (echo-py)",
    subject: "capability.cold-start/echo-py",
    floor: "python.spawn/bare",
    goal: 2,
  },
];
