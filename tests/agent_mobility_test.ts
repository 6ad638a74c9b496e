/**
 * Agents moving between hosts of one mesh, all in this process on loopback:
 * dispatch with state and waiting messages, tombstones that answer `moved`
 * or forward, clone to another host, retract (following an agent that moved
 * on), code fetched by the target and checked against its sha256, refusals
 * that leave the agent where it was, crashes on either side of the
 * acknowledgement that never give two live copies or none, an itinerary
 * across three hosts, and a host of another mesh that cannot deliver.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { connect, isRoamError, type Roam, type RoamEvent } from "../mod.ts";
import type { MobilityFaults } from "../src/agents/mod.ts";
import type { Host } from "../src/host/mod.ts";
import { packPlugin } from "../src/plugins/mod.ts";
import { TokenSigner } from "../src/security/mod.ts";
import { failure } from "./support/agents.ts";
import { roam } from "./support/cli.ts";
import { startTestHost, type TestHost } from "./support/host.ts";

const TRAVELER = `
import { Agent, Itinerary, type Message } from "@roam/agent";

type State = { count: number; log: string[]; itinerary?: unknown };

/** Counts, records where things happen, travels on request. */
export default class Traveler extends Agent<State> {
  #gate = Promise.withResolvers<void>();
  #started = Promise.withResolvers<void>();
  tour = new Itinerary(this, {
    tasks: { visit: () => ({ host: this.ctx.host.name, count: this.state.count }) },
  });

  override initialState(): State {
    return { count: 0, log: [] };
  }
  #note(what: string) {
    this.state.log.push(what + "@" + this.ctx.host.name);
  }
  override onDispatching() {
    this.#note("onDispatching");
  }
  override async onArrival() {
    this.#note("onArrival");
    await this.tour.arrived();
  }
  override onReverting() {
    this.#note("onReverting");
  }
  override onCloning() {
    this.#note("onCloning");
  }
  override onClone() {
    this.#note("onClone");
  }
  override onCloned() {
    this.#note("onCloned");
  }
  override async onDispatchFailed(to: string, error: { code: string; message: string }) {
    this.#note("onDispatchFailed:" + error.code);
    await this.tour.failed(to, error);
  }
  override async handleMessage(msg: Message): Promise<unknown> {
    switch (msg.kind) {
      case "increment":
        return ++this.state.count;
      case "record":
        this.#note("record:" + msg.args);
        return this.state.log.length;
      case "hold":
        this.#started.resolve();
        await this.#gate.promise;
        this.#gate = Promise.withResolvers<void>();
        this.#started = Promise.withResolvers<void>();
        return "held";
      case "holding":
        await this.#started.promise;
        return true;
      case "release":
        this.#gate.resolve();
        return true;
      case "state":
        return this.state;
      case "where":
        return this.ctx.host.name;
      case "go":
        await this.ctx.dispatch(String(msg.args));
        return "going";
      case "copy":
        return await this.ctx.clone(msg.args as string | undefined);
      case "tour":
        await this.tour.start(msg.args as string[]);
        return "touring";
      case "tour-state":
        return this.tour.state ?? null;
      default:
        return super.handleMessage(msg);
    }
  }
}
`;

type Packed = { manifest: Record<string, unknown>; code: string };
let packed: Promise<Packed> | undefined;

/** The traveler plugin, packed once per test module. */
function traveler(): Promise<Packed> {
  packed ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "roam-traveler-" });
    const out = await Deno.makeTempDir({ prefix: "roam-pack-" });
    try {
      await Deno.writeTextFile(
        join(dir, "plugin.json"),
        JSON.stringify({
          name: "traveler",
          version: "1.0.0",
          kind: "agent",
          entry: "agent.ts",
          description: "test agent that travels",
          permissions: {},
          isolation: "inline",
        }),
      );
      await Deno.writeTextFile(join(dir, "agent.ts"), TRAVELER);
      const done = await packPlugin(dir, { outDir: out });
      return { manifest: done.manifest, code: await Deno.readTextFile(done.bundlePath) };
    } finally {
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(out, { recursive: true });
    }
  })();
  return packed;
}

/** A host of a test mesh, with a client; its data dir survives a restart. */
interface Node {
  t: TestHost;
  mesh: Roam;
  url: string;
  host: Host;
}

/** Several hosts that share one mesh secret, torn down together. */
class Mesh {
  readonly root: string;
  readonly nodes = new Map<string, Node>();

  private constructor(root: string) {
    this.root = root;
  }

  static async create(): Promise<Mesh> {
    return new Mesh(await Deno.makeTempDir({ prefix: "roam-mesh-" }));
  }

  /** Start (or restart, on the same port and data dir) the host called `name`. */
  async start(
    name: string,
    options: { faults?: MobilityFaults; port?: number; secretFile?: string } = {},
  ): Promise<Node> {
    const t = await startTestHost({
      name,
      port: options.port ?? 0,
      dataDir: join(this.root, name),
      secretFile: options.secretFile ?? join(this.root, "secret"),
      shutdownGraceMs: 200,
    }, {
      mobility: { commitGraceMs: 300, settleRetryMs: 100, faults: options.faults },
    });
    const mesh = await connect({ url: t.host.url, token: t.token });
    const node = { t, mesh, url: t.host.url, host: t.host };
    this.nodes.set(name, node);
    return node;
  }

  /** Stop a host as if it died (its data dir is kept); returns its port for a restart. */
  async stop(name: string): Promise<number> {
    const node = this.nodes.get(name)!;
    this.nodes.delete(name);
    await node.mesh.close();
    await node.t.dispose();
    return node.host.port;
  }

  async [Symbol.asyncDispose]() {
    for (const name of [...this.nodes.keys()]) await this.stop(name);
    await Deno.remove(this.root, { recursive: true }).catch(() => {});
  }
}

/** Install the traveler on a host and create one agent there. */
async function travelerOn(node: Node, state?: unknown): Promise<string> {
  const { manifest, code } = await traveler();
  await node.mesh.plugin.add({ manifest, code });
  return (await node.mesh.agent.create({ plugin: "traveler", state })).id;
}

/** The reply to a message (it must be one). */
async function ask(node: Node, id: string, kind: string, args?: unknown): Promise<unknown> {
  const outcome = await node.mesh.agent.send({ id, kind, args });
  assert.equal(outcome.status, "replied");
  return outcome.reply;
}

/**
 * The first event of a type about `subject` that the host logged (or, with
 * `fromNow`, the next one), waiting for it if needed.
 */
function eventOn(
  host: Host,
  type: string,
  subject: string,
  options: { fromNow?: boolean; timeoutMs?: number } = {},
): Promise<RoamEvent> {
  const match = (e: RoamEvent) => e.type === type && e.subject === subject;
  const timeoutMs = options.timeoutMs ?? 15_000;
  let stop = () => {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new Promise<RoamEvent>((resolve, reject) => {
    stop = host.events.listen((event) => {
      if (match(event)) resolve(event);
    });
    const logged = options.fromNow
      ? undefined
      : host.events.since({ since: 0, limit: 10_000, types: [type] }).find(match);
    if (logged) resolve(logged);
    timer = setTimeout(
      () => reject(new Error(`no ${type} event for ${subject} within ${timeoutMs} ms`)),
      timeoutMs,
    );
  }).finally(() => {
    clearTimeout(timer);
    stop();
  });
}

/** The agents of a host with this id: how many records, and how many running. */
async function copies(node: Node, id: string): Promise<{ records: number; active: number }> {
  const { agents } = await node.mesh.agent.list();
  const mine = agents.filter((a) => a.id === id);
  return { records: mine.length, active: mine.filter((a) => a.status === "active").length };
}

Deno.test("dispatch moves an agent with its state and waiting messages; the old host answers moved with the new URL", async () => {
  await using net = await Mesh.create();
  const a = await net.start("a");
  const b = await net.start("b");
  const id = await travelerOn(a);
  await ask(a, id, "increment");
  await ask(a, id, "increment");

  // Keep the mailbox busy, so that the next messages wait in it when the move begins.
  const held = a.mesh.agent.send({ id, kind: "hold" });
  await a.mesh.agent.send({ id, kind: "holding", priority: 0 });
  assert.equal(
    (await a.mesh.agent.send({ id, kind: "record", args: "x", oneway: true })).status,
    "accepted",
  );
  const waiting = a.mesh.agent.send({ id, kind: "record", args: "y" });
  const dispatching = eventOn(a.host, "agent.dispatching", id, { fromNow: true });
  const move = a.mesh.agent.dispatch({ id, to: b.url });
  await dispatching;
  // The mailbox is frozen now; priority 0 still reaches the agent until its state is taken.
  await a.mesh.agent.send({ id, kind: "release", priority: 0 });
  assert.equal((await held).reply, "held");

  const moved = await move;
  assert.equal(moved.location, b.url);
  assert.deepEqual(await waiting, { status: "forwarded", location: b.url });

  const state = await ask(b, id, "state") as { count: number; log: string[] };
  assert.equal(state.count, 2);
  // The hook ran at the source, the waiting messages travelled and ran at the target, in order.
  assert.deepEqual(state.log, ["onDispatching@a", "onArrival@b", "record:x@b", "record:y@b"]);
  assert.deepEqual(await copies(a, id), { records: 0, active: 0 });
  assert.deepEqual(await copies(b, id), { records: 1, active: 1 });

  const gone = await failure(a.mesh.agent.send({ id, kind: "where" }));
  assert.equal(gone.code, "moved");
  assert.equal((gone as unknown as { data: { location: string } }).data.location, b.url);
  const forwarded = await a.mesh.agent.send({ id, kind: "where", forward: true });
  assert.deepEqual(forwarded, { status: "replied", reply: "b" });

  // The target had no code for it: it fetched the bundle from the source and checked it.
  const { manifest } = await traveler();
  const sha256 = (manifest.bundle as { sha256: string }).sha256;
  const fetched = await eventOn(b.host, "plugin.fetched", "traveler");
  assert.equal(fetched.data.sha256, sha256);
  assert.equal(fetched.data.from, a.url);
  const installed = await b.mesh.plugin.info({ name: "traveler" });
  assert.equal(installed.sha256, sha256);
  // Permissions are the target operator's grants: none were given there.
  assert.deepEqual(installed.granted, { read: [], write: [], net: [], env: [] });
});

Deno.test("clone to another host gives a new id with the same state, by RPC and from inside the agent", async () => {
  await using net = await Mesh.create();
  const a = await net.start("a");
  const b = await net.start("b");
  const id = await travelerOn(a);
  await ask(a, id, "increment");

  const clone = await a.mesh.agent.clone({ id, to: b.url });
  assert.notEqual(clone.id, id);
  assert.equal(clone.location, b.url);
  const copy = await ask(b, clone.id, "state") as { count: number; log: string[] };
  assert.equal(copy.count, 1);
  assert.deepEqual(copy.log, ["onCloning@a", "onClone@b"]);
  const original = await ask(a, id, "state") as { count: number; log: string[] };
  assert.deepEqual(original.log, ["onCloning@a", "onCloned@a"]);
  assert.deepEqual(await copies(b, id), { records: 0, active: 0 });

  const second = await ask(a, id, "copy", b.url) as string;
  assert.notEqual(second, id);
  assert.notEqual(second, clone.id);
  assert.equal(await ask(b, second, "where"), "b");
  assert.equal(await ask(a, id, "where"), "a");
});

Deno.test("retract pulls an agent back, following it through the hosts it moved on to", async () => {
  await using net = await Mesh.create();
  const a = await net.start("a");
  const b = await net.start("b");
  const c = await net.start("c");
  const id = await travelerOn(a);

  // The agent moves itself (ctx.dispatch), then b sends it on to c.
  const arrivedB = eventOn(b.host, "agent.arrived", id);
  assert.equal(await ask(a, id, "go", b.url), "going");
  await arrivedB;
  await b.mesh.agent.dispatch({ id, to: c.url });

  const back = await a.mesh.agent.retract({ id, from: b.url });
  assert.equal(back.location, a.url);
  const state = await ask(a, id, "state") as { log: string[] };
  assert.deepEqual(state.log, [
    "onDispatching@a",
    "onArrival@b",
    "onDispatching@b",
    "onArrival@c",
    "onReverting@c",
    "onArrival@a",
  ]);
  for (const node of [b, c]) {
    const error = await failure(node.mesh.agent.send({ id, kind: "where" }));
    assert.equal(error.code, "moved");
    assert.deepEqual(await copies(node, id), { records: 0, active: 0 });
  }
  // Pulling back an agent that is here already is refused.
  assert.equal((await failure(a.mesh.agent.retract({ id, from: b.url }))).code, "invalid_input");
});

Deno.test("a target checks the sha256 of fetched code and refuses a tampered bundle", async () => {
  await using net = await Mesh.create();
  const b = await net.start("b");
  const { manifest, code } = await traveler();
  const sha256 = (manifest.bundle as { sha256: string }).sha256;
  // A source that serves other code under the sha256 its envelope names.
  const fake = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const call = await request.json();
    return Response.json({
      jsonrpc: "2.0",
      id: call.id,
      result: {
        name: "traveler",
        version: "1.0.0",
        sha256,
        manifest,
        code: code + "\n;globalThis.stolen = true;",
      },
    });
  });
  try {
    const source = `http://127.0.0.1:${fake.addr.port}`;
    const transferId = crypto.randomUUID();
    const envelope = {
      v: 1,
      kind: "dispatch",
      transferId,
      epoch: 1,
      agent: { id: crypto.randomUUID() },
      plugin: { name: "traveler", version: "1.0.0", sha256 },
      state: { count: 0, log: [] },
      messages: [],
      policy: { activateOnMessage: true, queueWhenInactive: true },
      metadata: {
        hops: 1,
        origin: source,
        source: { id: "fake", name: "fake", url: source },
        sentAt: new Date().toISOString(),
      },
    };
    const refused = await failure(b.mesh.agent.receive({ envelope }));
    assert.equal(refused.code, "invalid_input");
    assert.match(refused.message, /tampered/);
    assert.equal((await b.mesh.plugin.list()).plugins.length, 0);
    assert.equal((await b.mesh.agent.list()).agents.length, 0);
    assert.equal((await b.mesh.agent.settle({ transferId })).outcome, "aborted");
    await eventOn(b.host, "plugin.fetch_refused", "traveler");
  } finally {
    await fake.shutdown();
  }
});

Deno.test("a dispatch whose target is down or refuses leaves the agent here exactly once, with agent.dispatch_failed", async () => {
  await using net = await Mesh.create();
  const a = await net.start("a");
  const gone = await net.start("gone");
  const downUrl = gone.url;
  await net.stop("gone");
  const id = await travelerOn(a);
  await ask(a, id, "increment");

  const down = await failure(a.mesh.agent.dispatch({ id, to: downUrl }));
  assert.equal(down.code, "unavailable");
  const failed = await eventOn(a.host, "agent.dispatch_failed", id);
  assert.equal(failed.data.stage, "preflight");
  assert.deepEqual(await copies(a, id), { records: 1, active: 1 });
  assert.equal(await ask(a, id, "increment"), 2);

  // The agent asks for the move itself: it hears of the failure in onDispatchFailed.
  const next = eventOn(a.host, "agent.dispatch_failed", id, { fromNow: true });
  await ask(a, id, "go", downUrl);
  assert.equal((await next).data.byAgent, true);
  const log = () => ask(a, id, "state").then((s) => (s as { log: string[] }).log);
  assert.ok((await log()).includes("onDispatchFailed:unavailable@a"));

  // A target that refuses the envelope itself (other code under the same version): the
  // agent is thawed with its waiting messages.
  const b = await net.start("b");
  const { manifest, code } = await traveler();
  await b.mesh.plugin.add({
    manifest: { ...manifest, bundle: undefined },
    code: code + "\n// other code, same version\n",
  });
  const held = a.mesh.agent.send({ id, kind: "hold" });
  await a.mesh.agent.send({ id, kind: "holding", priority: 0 });
  const waiting = a.mesh.agent.send({ id, kind: "record", args: "kept" });
  const dispatching = eventOn(a.host, "agent.dispatching", id, { fromNow: true });
  const move = a.mesh.agent.dispatch({ id, to: b.url });
  await dispatching;
  await a.mesh.agent.send({ id, kind: "release", priority: 0 });
  await held;
  const refused = await failure(move);
  assert.equal(refused.code, "conflict");
  assert.match(refused.message, /stays on this host/);
  assert.equal((await waiting).status, "replied");
  assert.ok((await log()).includes("record:kept@a"));
  assert.deepEqual(await copies(a, id), { records: 1, active: 1 });
  assert.deepEqual(await copies(b, id), { records: 0, active: 0 });
});

Deno.test("a target that dies after storing the envelope, before acknowledging, never gives two copies or none", async () => {
  await using net = await Mesh.create();
  const a = await net.start("a");
  const stored = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const b = await net.start("b", {
    faults: {
      afterStore: async () => {
        stored.resolve();
        await release.promise;
        return "crash" as const;
      },
    },
  });
  const id = await travelerOn(a);
  await ask(a, id, "increment");

  const move = a.mesh.agent.dispatch({ id, to: b.url });
  await stored.promise;
  const port = await net.stop("b");
  release.resolve();
  const unsettled = await failure(move);
  assert.equal(unsettled.code, "unavailable");
  assert.match(unsettled.message, /unsettled/);
  // Neither here nor there: the source holds it frozen, and does not revive it.
  const busy = await failure(a.mesh.agent.send({ id, kind: "where", timeoutMs: 200 }));
  assert.equal(busy.code, "unavailable");
  await eventOn(a.host, "agent.transfer_in_doubt", id);

  const b2 = await net.start("b", { port });
  await eventOn(a.host, "agent.dispatched", id);
  await eventOn(b2.host, "agent.arrived", id);
  assert.equal(await ask(b2, id, "increment"), 2);
  assert.deepEqual(await copies(b2, id), { records: 1, active: 1 });
  assert.deepEqual(await copies(a, id), { records: 0, active: 0 });
  assert.equal((await failure(a.mesh.agent.send({ id, kind: "where" }))).code, "moved");
});

Deno.test("a source that dies after the acknowledgement never gives two copies or none", async () => {
  await using net = await Mesh.create();
  const a = await net.start("a", { faults: { afterAck: () => "crash" as const } });
  const b = await net.start("b");
  const id = await travelerOn(a);
  await ask(a, id, "increment");

  const halted = await failure(a.mesh.agent.dispatch({ id, to: b.url }));
  assert.equal(halted.code, "unavailable");
  const port = await net.stop("a");
  // The target acknowledged; with no word from the source it starts the agent after a grace period.
  await eventOn(b.host, "agent.arrived", id);
  assert.equal(await ask(b, id, "increment"), 2);

  // The source comes back: it asks the target before reviving, and drops its copy.
  const a2 = await net.start("a", { port });
  await eventOn(a2.host, "agent.dispatched", id);
  assert.deepEqual(await copies(a2, id), { records: 0, active: 0 });
  assert.deepEqual(await copies(b, id), { records: 1, active: 1 });
  const moved = await failure(a2.mesh.agent.send({ id, kind: "where" }));
  assert.equal(moved.code, "moved");
  assert.equal(await ask(b, id, "increment"), 3);
});

Deno.test("an agent tours three hosts with an itinerary and comes home with each stop recorded", async () => {
  await using net = await Mesh.create();
  const a = await net.start("a");
  const b = await net.start("b");
  const c = await net.start("c");
  const id = await travelerOn(a, { count: 7, log: [] });

  const home = eventOn(a.host, "agent.arrived", id);
  assert.equal(await ask(a, id, "tour", [b.url, c.url, a.url]), "touring");
  await home;
  const tour = await ask(a, id, "tour-state") as {
    phase: string;
    records: { to: string; ok: boolean; value: { host: string; count: number } }[];
  };
  assert.equal(tour.phase, "done");
  assert.deepEqual(tour.records.map((r) => [r.to, r.ok, r.value.host, r.value.count]), [
    [b.url, true, "b", 7],
    [c.url, true, "c", 7],
    [a.url, true, "a", 7],
  ]);
  // c fetched the code from b, the host before it.
  assert.equal((await eventOn(c.host, "plugin.fetched", "traveler")).data.from, b.url);
  for (const node of [b, c]) assert.deepEqual(await copies(node, id), { records: 0, active: 0 });
  assert.deepEqual(await copies(a, id), { records: 1, active: 1 });
});

Deno.test("a host with a different secret cannot deliver an envelope (401)", async () => {
  await using net = await Mesh.create();
  const a = await net.start("a");
  const x = await net.start("x", { secretFile: join(net.root, "other-secret") });
  const id = await travelerOn(x);

  const stranger = new TokenSigner(await Deno.readFile(join(net.root, "other-secret")));
  const response = await fetch(`${a.url}/rpc`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${stranger.mint({ ttlMs: 60_000, subject: "host:x" })}`,
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "agent.receive",
      params: { envelope: { v: 1 } },
    }),
  });
  assert.equal(response.status, 401);
  assert.equal((await response.json()).error.data.code, "unauthorized");

  const refused = await failure(x.mesh.agent.dispatch({ id, to: a.url }));
  assert.equal(refused.code, "forbidden");
  assert.match(refused.message, /another mesh/);
  assert.equal((await eventOn(x.host, "agent.dispatch_failed", id)).data.stage, "preflight");
  assert.deepEqual(await copies(x, id), { records: 1, active: 1 });
  assert.equal((await a.mesh.agent.list()).agents.length, 0);
  assert.ok(isRoamError(await a.mesh.agent.send({ id, kind: "where" }).catch((e) => e)));
});

Deno.test("roam agent dispatch, clone --to, send --forward and retract work from the command line", async () => {
  await using net = await Mesh.create();
  const a = await net.start("a");
  const b = await net.start("b");
  const id = await travelerOn(a);
  const cli = (...args: string[]) => roam(["--data-dir", join(net.root, "a"), ...args]);

  const moved = await cli("agent", "dispatch", id, b.url);
  assert.equal(moved.code, 0, moved.stderr);
  assert.equal(moved.stdout.trim(), `agent ${id} is on ${b.url}`);
  const refused = await cli("agent", "send", id, "where");
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /moved to/);
  const forwarded = await cli("agent", "send", id, "where", "--forward");
  assert.equal(forwarded.stdout.trim(), '"b"');

  const back = await cli("agent", "retract", id, b.url);
  assert.equal(back.code, 0, back.stderr);
  assert.equal(back.stdout.trim(), `agent ${id} is back on ${a.url}`);
  const clone = await cli("agent", "clone", id, "--to", b.url);
  assert.equal(clone.code, 0, clone.stderr);
  assert.equal(await ask(b, clone.stdout.trim(), "where"), "b");
});
