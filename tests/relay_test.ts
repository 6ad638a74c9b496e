/**
 * Relay mode, in this process on loopback: a host started with `relay: HUB`
 * opens no connection others make to it, yet answers at `HUB/relay/<id>/rpc`
 * (host.info, plugin.add, agent.create, agent.send); requests for it wait in
 * the hub's bounded queue while it is away and are answered once it is back;
 * a full queue answers 503 `unavailable`; a host of another mesh cannot
 * connect; stopping either side leaks nothing (sanitizers stay on).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { packPlugin } from "../src/plugins/mod.ts";
import { TokenSigner } from "../src/security/mod.ts";
import type { Host, HostConfigInput } from "../src/host/mod.ts";
import { startTestHost, type TestHost } from "./support/host.ts";
import { within } from "./support/wait.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** The parts of a JSON-RPC reply these tests read. */
interface RpcReply {
  result?: { id?: string; name?: string; urls?: string[]; starts?: number; reply?: unknown };
  error?: { message: string; data: { code: string } };
}

/** One JSON-RPC call over plain HTTP to `base` (a host or a relay URL). */
async function rpc(
  base: string,
  token: string,
  method: string,
  params?: unknown,
): Promise<{ status: number; body: RpcReply }> {
  const response = await fetch(`${base}/rpc`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  return { status: response.status, body: await response.json() };
}

/** A call that must succeed; its result. */
async function call(base: string, token: string, method: string, params?: unknown) {
  const { status, body } = await rpc(base, token, method, params);
  assert.equal(status, 200, JSON.stringify(body));
  assert.ok(!body.error, JSON.stringify(body.error));
  return body.result!;
}

/** Resolves with the first `type` event about `subject` on `host`, logged already or next. */
function eventOn(host: Host, type: string, subject: string): Promise<unknown> {
  const { promise, resolve } = Promise.withResolvers<unknown>();
  const stop = host.events.listen((event) => {
    if (event.type === type && event.subject === subject) resolve(event);
  });
  const logged = host.events.since({ since: 0, limit: 10_000, types: [type] })
    .find((event) => event.subject === subject);
  if (logged) resolve(logged);
  return promise.finally(stop);
}

/** Resolves once the hub has queued `count` requests for `hostId` while it was away. */
function queuedEvents(hub: Host, hostId: string, count: number): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  let seen = 0;
  const stop = hub.events.listen((event) => {
    if (event.type === "relay.queued" && event.subject === hostId && ++seen === count) resolve();
  });
  return promise.finally(stop);
}

/** A hub and the hosts relayed through it, sharing one secret, torn down together. */
class Relayed {
  readonly root: string;
  readonly hosts: TestHost[] = [];

  private constructor(root: string) {
    this.root = root;
  }

  static async create(): Promise<Relayed> {
    return new Relayed(await Deno.makeTempDir({ prefix: "roam-relay-" }));
  }

  async start(name: string, config: HostConfigInput = {}): Promise<TestHost> {
    const t = await startTestHost({
      name,
      dataDir: join(this.root, name),
      secretFile: join(this.root, "secret"),
      shutdownGraceMs: 200,
      ...config,
    });
    this.hosts.push(t);
    await t.host.relayReady();
    return t;
  }

  async stop(t: TestHost): Promise<void> {
    this.hosts.splice(this.hosts.indexOf(t), 1);
    await t.dispose();
  }

  async [Symbol.asyncDispose]() {
    // Relayed hosts first, then their hub.
    for (const t of [...this.hosts].reverse()) await this.stop(t);
    await Deno.remove(this.root, { recursive: true }).catch(() => {});
  }
}

Deno.test("a host with relay: HUB answers host.info, plugins and agents at HUB/relay/<id>", async () => {
  await using net = await Relayed.create();
  const hub = await net.start("hub");
  const b = await net.start("b", { relay: hub.host.url });
  const via = `${hub.host.url}/relay/${b.host.id}`;

  const info = await call(via, hub.token, "host.info");
  assert.equal(info.id, b.host.id);
  assert.equal(info.name, "b");
  assert.equal(info.urls?.[0], via, "the relay URL is advertised first");

  const hello = await packPlugin(join(ROOT, "plugins/hello"), {
    outDir: join(net.root, "pack"),
  });
  await call(via, hub.token, "plugin.add", {
    manifest: hello.manifest,
    code: await Deno.readTextFile(hello.bundlePath),
  });
  const { id } = await call(via, hub.token, "agent.create", { plugin: "hello" });
  const sent = await call(via, hub.token, "agent.send", { id, kind: "increment" });
  assert.equal(sent.reply, 1);
  const echoed = await call(via, hub.token, "agent.send", { id, kind: "echo", args: { hi: 2 } });
  assert.deepEqual(echoed.reply, { hi: 2 });
  // The agent lives on b, not on the hub.
  const onHub = await rpc(hub.host.url, hub.token, "agent.send", { id, kind: "count" });
  assert.ok(onHub.body.error, "the hub has no such agent");
  assert.equal((await call(b.host.url, b.token, "agent.send", { id, kind: "count" })).reply, 1);
});

Deno.test("a request for a relayed host that is away waits in the hub's queue and is answered when it reconnects", async () => {
  await using net = await Relayed.create();
  const hub = await net.start("hub");
  let b = await net.start("b", { relay: hub.host.url });
  const id = b.host.id;
  const via = `${hub.host.url}/relay/${id}`;
  await net.stop(b);
  await eventOn(hub.host, "relay.disconnected", id);

  const held = queuedEvents(hub.host, id, 1);
  const waiting = rpc(via, hub.token, "host.info");
  await held;
  b = await net.start("b", { relay: hub.host.url });
  const { status, body } = await waiting;
  assert.equal(status, 200);
  assert.equal(body.result?.id, id);
  assert.equal(body.result?.starts, 2, "answered by the restarted host");
});

Deno.test("past its bound the relay queue answers 503 with a JSON-RPC unavailable error", async () => {
  await using net = await Relayed.create();
  const hub = await net.start("hub", { relayHub: { maxQueue: 2 } });
  let b = await net.start("b", { relay: hub.host.url });
  const via = `${hub.host.url}/relay/${b.host.id}`;
  await net.stop(b);
  await eventOn(hub.host, "relay.disconnected", b.host.id);

  const held = queuedEvents(hub.host, b.host.id, 2);
  const queued = [rpc(via, hub.token, "host.health"), rpc(via, hub.token, "host.health")];
  await held;
  const refused = await rpc(via, hub.token, "host.health");
  assert.equal(refused.status, 503);
  assert.equal(refused.body.error?.data.code, "unavailable");
  assert.match(refused.body.error?.message ?? "", /queue for host b is full/);

  b = await net.start("b", { relay: hub.host.url });
  for (const answer of await Promise.all(queued)) assert.equal(answer.status, 200);
});

Deno.test("a host with another mesh's secret cannot connect to a hub (401) and is never reachable there", async () => {
  await using net = await Relayed.create();
  const hub = await net.start("hub");
  const stranger = new TokenSigner(new Uint8Array(32).fill(9)).mint({ ttlMs: 60_000 });
  const refused = await fetch(`${hub.host.url}/relay/connect`, {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-version": "13",
      "sec-websocket-key": btoa("0123456789abcdef"),
      authorization: `Bearer ${stranger}`,
    },
  });
  assert.equal(refused.status, 401);
  assert.equal((await refused.json()).error.data.code, "unauthorized");

  const other = await startTestHost({
    name: "other",
    relay: hub.host.url,
    secretFile: join(net.root, "other-secret"),
  });
  try {
    const via = `${hub.host.url}/relay/${other.host.id}`;
    const { status, body } = await rpc(via, other.token, "host.info");
    assert.equal(status, 503);
    assert.equal(body.error?.data.code, "unavailable");
  } finally {
    await other.dispose();
  }
});

Deno.test("a relayed host away for longer than offlineAfterMs is reported offline and refused at once", async () => {
  await using net = await Relayed.create();
  const hub = await net.start("hub", { relayHub: { offlineAfterMs: 50 } });
  let b = await net.start("b", { relay: hub.host.url });
  const id = b.host.id;
  const via = `${hub.host.url}/relay/${id}`;
  await net.stop(b);
  await eventOn(hub.host, "relay.disconnected", id);
  await new Promise((resolve) => setTimeout(resolve, 100)); // the threshold is a time

  const { status, body } = await rpc(via, hub.token, "host.info");
  assert.equal(status, 503);
  assert.equal(body.error?.data.code, "unavailable");
  assert.match(body.error?.message ?? "", /host b .* is offline/);
  await eventOn(hub.host, "relay.offline", id);

  b = await net.start("b", { relay: hub.host.url });
  assert.equal((await call(via, hub.token, "host.info")).id, id, "back online on reconnect");
});

Deno.test("a relayed request that waits past its deadline answers 504 timeout and leaves the queue", async () => {
  await using net = await Relayed.create();
  const hub = await net.start("hub", { relayHub: { deadlineMs: 50, maxQueue: 1 } });
  const b = await net.start("b", { relay: hub.host.url });
  const via = `${hub.host.url}/relay/${b.host.id}`;
  await net.stop(b);
  await eventOn(hub.host, "relay.disconnected", b.host.id);

  const late = await rpc(via, hub.token, "host.info");
  assert.equal(late.status, 504);
  assert.equal(late.body.error?.data.code, "timeout");
  // Its place in the queue of one is free again: the next one waits too, rather than 503.
  const next = await rpc(via, hub.token, "host.info");
  assert.equal(next.status, 504);
});

Deno.test("an agent dispatched to a relay URL lands on the relayed host, not on the hub", async () => {
  await using net = await Relayed.create();
  const hub = await net.start("hub");
  const b = await net.start("b", { relay: hub.host.url });
  const via = `${hub.host.url}/relay/${b.host.id}`;
  const hello = await packPlugin(join(ROOT, "plugins/hello"), { outDir: join(net.root, "pack") });
  await call(hub.host.url, hub.token, "plugin.add", {
    manifest: hello.manifest,
    code: await Deno.readTextFile(hello.bundlePath),
  });
  const { id } = await call(hub.host.url, hub.token, "agent.create", { plugin: "hello" });
  assert.equal(
    (await call(hub.host.url, hub.token, "agent.send", { id, kind: "increment" })).reply,
    1,
  );
  await call(hub.host.url, hub.token, "agent.dispatch", { id, to: via });
  await eventOn(b.host, "agent.arrived", id!);
  assert.equal((await call(b.host.url, b.token, "agent.send", { id, kind: "increment" })).reply, 2);
  const onHub = await rpc(hub.host.url, hub.token, "agent.send", { id, kind: "count" });
  assert.equal(onHub.body.error?.data.code, "moved");
});

/** A JSON-RPC WebSocket session: calls by id, and every notification kept. */
async function wsSession(url: string, token: string) {
  const socket = new WebSocket(url, ["roam.v1", `roam.bearer.${token}`]);
  const replies = new Map<number, (message: Record<string, unknown>) => void>();
  const notes: Record<string, unknown>[] = [];
  const noted: (() => void)[] = [];
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data));
    if (message.id !== undefined) replies.get(message.id)?.(message);
    else {
      notes.push(message);
      for (const wake of noted.splice(0)) wake();
    }
  });
  const closed = new Promise<void>((resolve) => socket.addEventListener("close", () => resolve()));
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve);
    socket.addEventListener("error", () => reject(new Error(`cannot open ${url}`)));
  });
  let nextId = 1;
  return {
    protocol: socket.protocol,
    call(method: string, params: unknown = {}): Promise<Record<string, unknown>> {
      const id = nextId++;
      const { promise, resolve } = Promise.withResolvers<Record<string, unknown>>();
      replies.set(id, resolve);
      socket.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
      return promise;
    },
    async note(match: (message: Record<string, unknown>) => boolean) {
      while (!notes.some(match)) await new Promise<void>((resolve) => noted.push(resolve));
      return notes.find(match)!;
    },
    async close() {
      socket.close();
      await closed;
    },
  };
}

Deno.test("a WebSocket to HUB/relay/<id>/rpc/ws is the relayed host's own: calls and event subscriptions pass through", async () => {
  await using net = await Relayed.create();
  const hub = await net.start("hub");
  const b = await net.start("b", { relay: hub.host.url });
  const ws = await wsSession(
    `${hub.host.url.replace("http", "ws")}/relay/${b.host.id}/rpc/ws`,
    hub.token,
  );
  assert.equal(ws.protocol, "roam.v1", "the relayed host's choice of subprotocol");
  const info = await within(10_000, "host.info over the relayed WebSocket", ws.call("host.info"));
  assert.equal((info.result as { id: string }).id, b.host.id);
  const subscribed = await ws.call("events.subscribe", { types: ["plugin.installed"] });
  assert.ok(subscribed.result, JSON.stringify(subscribed));
  // Something happens on b (through plain relayed HTTP): the subscription hears of it.
  const hello = await packPlugin(join(ROOT, "plugins/hello"), { outDir: join(net.root, "pack") });
  const via = `${hub.host.url}/relay/${b.host.id}`;
  await call(via, hub.token, "plugin.add", {
    manifest: hello.manifest,
    code: await Deno.readTextFile(hello.bundlePath),
  });
  const note = await within(
    10_000,
    "an events.event notification through the relay",
    ws.note((m) => m.method === "events.event"),
  );
  assert.equal((note.params as { event: { type: string } }).event.type, "plugin.installed");
  await ws.close();
});

Deno.test("a WebSocket for a relayed host that is away is refused at once with 503", async () => {
  await using net = await Relayed.create();
  const hub = await net.start("hub");
  const b = await net.start("b", { relay: hub.host.url });
  const id = b.host.id;
  await net.stop(b);
  const response = await fetch(`${hub.host.url}/relay/${id}/rpc/ws`, {
    headers: { upgrade: "websocket", authorization: `Bearer ${hub.token}` },
  });
  assert.equal(response.status, 503);
  const body = await response.json();
  assert.equal(body.error.data.code, "unavailable");
});
