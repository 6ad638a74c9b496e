/**
 * The roam host the agent benches share: a real host in its own subprocess
 * (`host_server.ts`), the bench agent (`fixtures/bench-agent`) packed once
 * and installed twice, as `bench-agent-process` (each agent in a runner
 * process of its own) and `bench-agent-inline` (workers in the host process),
 * and a token minted from the host's mesh secret, as `roam token` does.
 *
 * @module
 */
import { join } from "node:path";
import { packPlugin } from "../../src/plugins/mod.ts";
import { readSecret, TokenSigner } from "../../src/security/mod.ts";
import type { BenchContext } from "./definitions.ts";

/** Where agents run: the plugin manifest's `isolation`. */
export type Isolation = "process" | "inline";

/** Both isolation modes, in the order the benches list them. */
export const ISOLATIONS: readonly Isolation[] = ["process", "inline"];

/** A JSON-RPC call over HTTP with the bench's token; resolves with the result, throws its error. */
export type Rpc = (method: string, params: Record<string, unknown>) => Promise<unknown>;

/** The shared host, ready for agents. */
export interface AgentHost {
  /** Its base URL, like `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** The host process's id (runner processes are its children). */
  readonly pid: number;
  /** A token for it. */
  readonly token: string;
  /** Calls over one keep-alive HTTP client. */
  readonly rpc: Rpc;
  /** The name of the installed bench plugin with this isolation. */
  plugin(isolation: Isolation): string;
  /** Create an agent of the bench plugin; it lives until the host stops. */
  createAgent(isolation: Isolation): Promise<string>;
}

const FIXTURE = new URL("./fixtures/bench-agent", import.meta.url);
const hosts = new WeakMap<BenchContext, Promise<AgentHost>>();

/** The run's shared agent host, started on first use. */
export function agentHost(context: BenchContext): Promise<AgentHost> {
  let host = hosts.get(context);
  if (!host) hosts.set(context, host = startAgentHost(context));
  return host;
}

async function startAgentHost(context: BenchContext): Promise<AgentHost> {
  const dataDir = await context.makeTempDir("roam-bench-agents-");
  const server = await context.startServer("host_server.ts", [
    "--data-dir",
    dataDir,
    "--remove-data-dir",
  ]);
  // Packed inside the host's data dir, which the host removes on its way out
  // even when the bench itself is killed.
  const packed = await packPlugin(FIXTURE.pathname, { outDir: join(dataDir, "bench-pack") });
  const code = await Deno.readTextFile(packed.bundlePath);
  const secret = await readSecret(join(dataDir, "secret"));
  const token = new TokenSigner(secret.bytes).mint({ ttlMs: 3_600_000, subject: "bench" });
  const rpc = rpcClient(context, `${server.url}/rpc`, token);

  const plugin = (isolation: Isolation) => `${packed.manifest.name}-${isolation}`;
  for (const isolation of ISOLATIONS) {
    await rpc("plugin.add", {
      manifest: { ...packed.manifest, name: plugin(isolation), isolation },
      code,
    });
  }
  return {
    url: server.url,
    pid: server.pid,
    token,
    rpc,
    plugin,
    async createAgent(isolation) {
      const { id } = await rpc("agent.create", { plugin: plugin(isolation) }) as { id: string };
      return id;
    },
  };
}

/** JSON-RPC over HTTP with `token`, on its own keep-alive client. */
export function rpcClient(context: BenchContext, url: string, token: string): Rpc {
  const client = Deno.createHttpClient({});
  context.defer(() => client.close());
  const headers = { "content-type": "application/json", authorization: `Bearer ${token}` };
  let nextId = 1;
  return async (method, params) => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params });
    const response = await fetch(url, { method: "POST", headers, body, client });
    const reply = await response.json();
    if (reply?.error || !("result" in (reply ?? {}))) {
      throw new Error(
        `${method} at ${url} answered ${response.status}: ${JSON.stringify(reply).slice(0, 300)}`,
      );
    }
    return reply.result;
  };
}

/**
 * A WebSocket JSON-RPC session (`/rpc/ws`) that keeps up to `window` calls in
 * flight: `pipeline` sends many calls and resolves when every one has
 * answered.
 */
export interface WsSession {
  /** Send `count` calls made by `request(i)`, at most `window` unanswered at once. */
  pipeline(
    count: number,
    window: number,
    request: (i: number) => { method: string; params: Record<string, unknown> },
  ): Promise<void>;
  /** One call; resolves with its result. */
  call(method: string, params: Record<string, unknown>): Promise<unknown>;
}

/** Open a WebSocket session with `token`; it is closed when the run ends. */
export async function openWs(
  context: BenchContext,
  url: string,
  token: string,
): Promise<WsSession> {
  const socket = new WebSocket(`${url.replace(/^http/, "ws")}/rpc/ws`, [
    "roam.v1",
    `roam.bearer.${token}`,
  ]);
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let closedWhy: string | null = null;
  const { promise: opened, resolve: open, reject: failOpen } = Promise.withResolvers<void>();
  socket.onopen = () => open();
  socket.onclose = (event) => {
    closedWhy = `the WebSocket closed (${event.code} ${event.reason})`;
    failOpen(new Error(closedWhy));
    for (const waiter of waiting.values()) waiter.reject(new Error(closedWhy));
    waiting.clear();
  };
  socket.onmessage = (event) => {
    const reply = JSON.parse(event.data);
    const waiter = waiting.get(reply.id);
    if (!waiter) return;
    waiting.delete(reply.id);
    if (reply.error) waiter.reject(new Error(`call ${reply.id}: ${JSON.stringify(reply.error)}`));
    else waiter.resolve(reply.result);
  };
  context.defer(() => {
    if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
      const { promise, resolve } = Promise.withResolvers<void>();
      socket.addEventListener("close", () => resolve());
      socket.close();
      return Promise.race([promise, new Promise<void>((r) => setTimeout(r, 1000))]);
    }
  });
  await opened;

  let nextId = 1;
  const call = (method: string, params: Record<string, unknown>) => {
    if (closedWhy) return Promise.reject(new Error(closedWhy));
    const id = nextId++;
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    waiting.set(id, { resolve, reject });
    socket.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    return promise;
  };
  return {
    call,
    pipeline(count, window, request) {
      return new Promise<void>((resolve, reject) => {
        let sent = 0;
        let answered = 0;
        let failed = false;
        const next = () => {
          if (failed) return;
          if (answered === count) return resolve();
          if (sent === count) return;
          const { method, params } = request(sent++);
          call(method, params).then(() => {
            answered++;
            next();
          }, (error) => {
            failed = true;
            reject(error);
          });
        };
        for (let i = 0; i < Math.min(window, count); i++) next();
        if (count === 0) resolve();
      });
    },
  };
}
