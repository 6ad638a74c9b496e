/**
 * Agents on a real host, driven over RPC: the Aglets hook order, mailboxes
 * (priorities, FIFO, one handler at a time, priority 0, a full mailbox,
 * one-way sends, multicast), state validation, runner processes ending with
 * their agents, and the example plugins `hello` and `pingpong`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { isRoamError, type Roam } from "../mod.ts";
import { packPlugin } from "../src/plugins/mod.ts";
import { exited, hostWithClient } from "./support/agents.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const LIFECYCLE = join(ROOT, "tests/fixtures/agents");

/**
 * A test agent for mailboxes: `hold` runs until a `release` (priority 0)
 * arrives, `holding` (priority 0) answers once `hold` has started, `work`
 * records its start and end around a turn of the event loop, `gather`
 * multicasts, and `pid` tells which process the agent runs in.
 */
const MAILBOX_AGENT = `
import { Agent, type Message } from "@roam/agent";

export default class Mailboxes extends Agent<{ log: string[] }> {
  #gate = Promise.withResolvers<void>();
  #started = Promise.withResolvers<void>();

  override initialState() {
    return { log: [] };
  }

  override async handleMessage(msg: Message): Promise<unknown> {
    switch (msg.kind) {
      case "hold":
        this.state.log.push("start:hold");
        this.#started.resolve();
        await this.#gate.promise;
        this.state.log.push("end:hold");
        this.#gate = Promise.withResolvers<void>();
        this.#started = Promise.withResolvers<void>();
        return "held";
      case "holding":
        await this.#started.promise;
        return true;
      case "release":
        this.state.log.push("release");
        this.#gate.resolve();
        return true;
      case "work":
        this.state.log.push("start:" + msg.args);
        await new Promise((resolve) => setTimeout(resolve, 1));
        this.state.log.push("end:" + msg.args);
        return msg.args;
      case "log":
        return this.state.log;
      case "gather": {
        const set = await this.ctx.multicast(String(msg.args));
        return {
          size: set.size,
          values: Object.fromEntries(set.values()),
          errors: Object.fromEntries([...set.errors()].map(([id, e]) => [id, e.code])),
        };
      }
      case "pid":
        return Deno.pid;
      default:
        return super.handleMessage(msg);
    }
  }
}
`;

/** The lifecycle fixture, and a word in the host log from onDisposing (its state goes with it). */
const WITNESS_AGENT = `
import Lifecycle from "./lifecycle.ts";

export default class Witness extends Lifecycle {
  override onDisposing() {
    super.onDisposing();
    this.ctx.log("disposing with hooks", this.state.hooks);
  }
}
`;

type Packed = { manifest: Record<string, unknown>; code: string };
const packs = new Map<string, Promise<Packed>>();

/** Pack a plugin dir once per test module. */
function pack(dir: string): Promise<Packed> {
  let packed = packs.get(dir);
  if (!packed) {
    packed = (async () => {
      const outDir = await Deno.makeTempDir({ prefix: "roam-pack-" });
      try {
        const done = await packPlugin(dir, { outDir });
        return { manifest: done.manifest, code: await Deno.readTextFile(done.bundlePath) };
      } finally {
        await Deno.remove(outDir, { recursive: true });
      }
    })();
    packs.set(dir, packed);
  }
  return packed;
}

/** Pack a plugin made of `files` (with a plugin.json for `name`), once per test module. */
function packSource(name: string, files: Record<string, string>): Promise<Packed> {
  const key = `source:${name}`;
  let packed = packs.get(key);
  if (!packed) {
    packed = (async () => {
      const dir = await Deno.makeTempDir({ prefix: `roam-${name}-` });
      try {
        const manifest = {
          name,
          version: "0.1.0",
          kind: "agent",
          entry: "agent.ts",
          description: `test agent ${name}`,
          permissions: {},
        };
        await Deno.writeTextFile(join(dir, "plugin.json"), JSON.stringify(manifest));
        for (const [file, text] of Object.entries(files)) {
          await Deno.writeTextFile(join(dir, file), text);
        }
        return await pack(dir);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    })();
    packs.set(key, packed);
  }
  return packed;
}

/** Install a packed plugin over RPC, with manifest fields replaced (the name, the memory budget). */
async function install(mesh: Roam, packed: Promise<Packed>, fields: Record<string, unknown> = {}) {
  const { manifest, code } = await packed;
  return await mesh.plugin.add({ manifest: { ...manifest, ...fields }, code });
}

const mailboxPlugin = () => packSource("mailboxes", { "agent.ts": MAILBOX_AGENT });

/** The error code a call fails with. */
async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    if (isRoamError(error)) return error.code;
    throw error;
  }
  assert.fail("the call succeeded");
}

Deno.test("hooks run in the Aglets order through create, deactivate, activate, clone and dispose", async () => {
  const lines: string[] = [];
  await using h = await hostWithClient({}, { log: (line) => lines.push(line) });
  const { mesh } = h;
  const lifecycle = await Deno.readTextFile(join(LIFECYCLE, "lifecycle.ts"));
  await install(
    mesh,
    packSource("witness", { "agent.ts": WITNESS_AGENT, "lifecycle.ts": lifecycle }),
  );
  const hooks = async (id: string) =>
    (await mesh.agent.send({ id, kind: "hooks" })).reply as string[];

  const { id } = await mesh.agent.create({ plugin: "witness", init: { n: 1 } });
  const created = ['onCreation:{"n":1}', "run"];
  assert.deepEqual(await hooks(id), created);

  await mesh.agent.deactivate({ id });
  const asleep = await mesh.agent.get({ id, withState: true });
  assert.equal(asleep.status, "inactive");
  const slept = [...created, "onDeactivating"];
  assert.deepEqual((asleep.state as { hooks: string[] }).hooks, slept);

  await mesh.agent.activate({ id });
  const woke = [...slept, "onActivation", "run"];
  assert.deepEqual(await hooks(id), woke);

  const { id: copy } = await mesh.agent.clone({ id });
  assert.notEqual(copy, id);
  // The copy starts from the state onCloning left; ids are 36 characters long.
  assert.deepEqual(await hooks(copy), [...woke, "onCloning", "onClone:36", "run"]);
  assert.deepEqual(await hooks(id), [...woke, "onCloning", "onCloned:36"]);

  await mesh.agent.dispose({ id });
  assert.equal(await codeOf(mesh.agent.get({ id })), "not_found");
  const said = lines.find((line) => line.startsWith(`agent ${id}: disposing with hooks`));
  assert.ok(said, `onDisposing did not run; host log: ${lines.join("\n")}`);
  assert.deepEqual(JSON.parse(said.slice(said.indexOf("["))), [
    ...woke,
    "onCloning",
    "onCloned:36",
    "onDisposing",
  ]);
  assert.equal((await mesh.agent.get({ id: copy })).status, "active");

  const { events } = await mesh.events.since({ types: ["agent."], limit: 100 });
  assert.deepEqual(
    events.filter((e) => e.subject === id).map((e) => e.type),
    ["agent.created", "agent.deactivated", "agent.activated", "agent.cloned", "agent.disposed"],
  );
});

Deno.test("mailbox: priority order, first-in-first-out within a priority, one handler at a time, priority 0 beside", async () => {
  // A short time limit: should an assertion fail while `hold` runs, the host stops in 5 s.
  await using h = await hostWithClient({ agents: { messageTimeoutMs: 5_000 } });
  const { mesh } = h;
  await install(mesh, mailboxPlugin());
  const { id } = await mesh.agent.create({ plugin: "mailboxes" });

  const held = mesh.agent.send({ id, kind: "hold" });
  // Priority 0 skips the queue, so it can answer while `hold` runs.
  assert.equal((await mesh.agent.send({ id, kind: "holding", priority: 0 })).reply, true);
  const sends: [string, number][] = [
    ["low-1", 2],
    ["mid-1", 5],
    ["low-2", 2],
    ["high", 9],
    ["mid-2", 5],
    ["low-3", 2],
  ];
  for (const [name, priority] of sends) {
    const outcome = await mesh.agent.send({ id, kind: "work", args: name, priority, oneway: true });
    assert.deepEqual(outcome, { status: "accepted" });
  }
  assert.equal((await mesh.agent.get({ id })).mailbox, sends.length);
  await mesh.agent.send({ id, kind: "release", priority: 0 });
  assert.equal((await held).reply, "held");
  // Priority 1 queues behind everything sent before it.
  const log = (await mesh.agent.send({ id, kind: "log", priority: 1 })).reply as string[];
  const order = ["high", "mid-1", "mid-2", "low-1", "low-2", "low-3"];
  assert.deepEqual(log, [
    "start:hold",
    "release",
    "end:hold",
    ...order.flatMap((name) => [`start:${name}`, `end:${name}`]),
  ]);
});

Deno.test("mailbox: a full mailbox refuses with queue_full, one-way sends included; priority 0 still gets through", async () => {
  await using h = await hostWithClient({ agents: { mailboxCapacity: 4, messageTimeoutMs: 5_000 } });
  const { mesh } = h;
  await install(mesh, mailboxPlugin());
  const { id } = await mesh.agent.create({ plugin: "mailboxes" });

  const held = mesh.agent.send({ id, kind: "hold" });
  await mesh.agent.send({ id, kind: "holding", priority: 0 });
  for (let i = 1; i <= 4; i++) {
    const outcome = await mesh.agent.send({ id, kind: "work", args: `w${i}`, oneway: true });
    assert.equal(outcome.status, "accepted");
  }
  assert.equal(await codeOf(mesh.agent.send({ id, kind: "work", args: "w5" })), "queue_full");
  assert.equal(
    await codeOf(mesh.agent.send({ id, kind: "work", args: "w6", oneway: true })),
    "queue_full",
  );
  const now = await mesh.agent.send({ id, kind: "log", priority: 0 });
  assert.deepEqual(now.reply, ["start:hold"]);

  await mesh.agent.send({ id, kind: "release", priority: 0 });
  await held;
  const log = (await mesh.agent.send({ id, kind: "log", priority: 1 })).reply as string[];
  assert.deepEqual(log.filter((entry) => entry.startsWith("end:")), [
    "end:hold",
    "end:w1",
    "end:w2",
    "end:w3",
    "end:w4",
  ]);
});

Deno.test("multicast collects a reply from every agent of the host, and from inside an agent as a ReplySet", async () => {
  await using h = await hostWithClient();
  const { mesh } = h;
  await install(mesh, pack(join(ROOT, "plugins/hello")));
  await install(mesh, mailboxPlugin());
  const a = (await mesh.agent.create({ plugin: "hello" })).id;
  const b = (await mesh.agent.create({ plugin: "hello" })).id;
  const m = (await mesh.agent.create({ plugin: "mailboxes" })).id;
  await mesh.agent.send({ id: a, kind: "increment" });
  await mesh.agent.send({ id: b, kind: "increment" });
  await mesh.agent.send({ id: b, kind: "increment" });

  const { replies } = await mesh.agent.multicast({ kind: "count" });
  const byId = new Map(replies.map((r) => [r.agentId, r]));
  assert.equal(replies.length, 3);
  assert.deepEqual(byId.get(a), { agentId: a, ok: true, value: 1 });
  assert.deepEqual(byId.get(b), { agentId: b, ok: true, value: 2 });
  assert.equal(byId.get(m)?.ok, false);
  assert.equal(byId.get(m)?.error?.code, "not_handled");

  const helloOnly = await mesh.agent.multicast({ kind: "count", plugin: "hello" });
  assert.deepEqual(helloOnly.replies.map((r) => r.agentId).sort(), [a, b].sort());

  // From inside an agent: every other agent of the host, itself left out.
  const gathered = (await mesh.agent.send({ id: m, kind: "gather", args: "count" })).reply;
  assert.deepEqual(gathered, { size: 2, values: { [a]: 1, [b]: 2 }, errors: {} });
});

Deno.test("a state that is not plain JSON fails the message with serialization and rolls back", async () => {
  await using h = await hostWithClient();
  const { mesh } = h;
  await install(mesh, pack(LIFECYCLE), { resources: { memoryMb: 256 } });
  const { id } = await mesh.agent.create({ plugin: "lifecycle" });
  await mesh.agent.send({ id, kind: "increment" });
  const before = (await mesh.agent.get({ id, withState: true })).state;

  assert.equal(await codeOf(mesh.agent.send({ id, kind: "bad-state" })), "serialization");
  const after = await mesh.agent.get({ id, withState: true });
  assert.equal(after.status, "active");
  assert.deepEqual(after.state, before);
  // The worker's own copy rolled back too: the next snapshot passes and holds no function.
  assert.equal((await mesh.agent.send({ id, kind: "increment" })).reply, 2);
  assert.deepEqual((await mesh.agent.get({ id, withState: true })).state, {
    ...(before as Record<string, unknown>),
    count: 2,
  });
});

Deno.test("an agent's runner process ends when the agent is disposed or goes to sleep", async () => {
  await using h = await hostWithClient();
  const { mesh } = h;
  await install(mesh, mailboxPlugin());
  const pidOf = async (id: string) =>
    (await mesh.agent.send({ id, kind: "pid", priority: 0 })).reply as number;

  const a = (await mesh.agent.create({ plugin: "mailboxes" })).id;
  const b = (await mesh.agent.create({ plugin: "mailboxes" })).id;
  const [pa, pb] = [await pidOf(a), await pidOf(b)];
  assert.notEqual(pa, pb);
  assert.notEqual(pa, Deno.pid);
  await mesh.agent.dispose({ id: a });
  await exited(pa);
  await mesh.agent.deactivate({ id: b });
  await exited(pb);
  // Waking takes a runner again.
  await mesh.agent.activate({ id: b });
  const again = await pidOf(b);
  assert.notEqual(again, pb);
});

Deno.test("hello: echo, increment and count, the count kept across sleep", async () => {
  await using h = await hostWithClient();
  const { mesh } = h;
  await install(mesh, pack(join(ROOT, "plugins/hello")));
  const { id } = await mesh.agent.create({ plugin: "hello" });
  const send = async (kind: string, args?: unknown) =>
    (await mesh.agent.send({ id, kind, args })).reply;

  assert.deepEqual(await send("echo", { hi: [1, "two"] }), { hi: [1, "two"] });
  assert.equal(await send("count"), 0);
  assert.equal(await send("increment"), 1);
  assert.equal(await send("increment"), 2);
  await mesh.agent.deactivate({ id });
  // A message wakes it (the default policy).
  assert.equal(await send("count"), 2);
  assert.equal(await codeOf(send("shout")), "not_handled");
});

Deno.test("pingpong: start makes a peer and volleys with it; a named peer plays again", async () => {
  await using h = await hostWithClient();
  const { mesh } = h;
  await install(mesh, pack(join(ROOT, "plugins/pingpong")));
  const { id } = await mesh.agent.create({ plugin: "pingpong" });

  const first = (await mesh.agent.send({ id, kind: "start", args: { rounds: 3 } })).reply as {
    count: number;
    peer: string;
    path: string[];
  };
  assert.equal(first.count, 3);
  assert.notEqual(first.peer, id);
  assert.deepEqual(first.path, [id, first.peer, id, first.peer, id, first.peer]);
  const { agents } = await mesh.agent.list({ plugin: "pingpong" });
  assert.deepEqual(agents.map((a) => a.id).sort(), [id, first.peer].sort());

  // The peer starts a rally of its own with the first agent.
  const second = (await mesh.agent.send({
    id: first.peer,
    kind: "start",
    args: { peer: id, rounds: 2 },
  })).reply as { count: number; path: string[] };
  assert.deepEqual(second, { count: 2, peer: id, path: [first.peer, id, first.peer, id] });
  assert.deepEqual(
    (await mesh.agent.send({ id, kind: "stats" })).reply,
    { served: 3, returned: 2, last: first },
  );
  assert.equal(
    await codeOf(mesh.agent.send({ id, kind: "start", args: { rounds: 0 } })),
    "invalid_input",
  );
  assert.equal(
    await codeOf(mesh.agent.send({ id, kind: "start", args: { peer: id, rounds: 1 } })),
    "invalid_input",
  );
});
