/**
 * Crash containment on a real host: an agent that throws, hangs or eats
 * memory fails its own callers with a typed error, never the host or the
 * other agents, and restarts from its last good state.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Roam } from "../mod.ts";
import { packPlugin } from "../src/plugins/mod.ts";
import { exited, failure, hostWithClient } from "./support/agents.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** The lifecycle fixture, which also tells the pid of the process it runs in. */
const LIFECYCLE_WITH_PID = `
import { type Message } from "@roam/agent";
import Lifecycle from "./lifecycle.ts";

export default class LifecycleWithPid extends Lifecycle {
  override handleMessage(msg: Message) {
    return msg.kind === "pid" ? Deno.pid : super.handleMessage(msg);
  }
}
`;

type Packed = { manifest: Record<string, unknown>; code: string };
let lifecyclePack: Promise<Packed> | undefined;
let helloPack: Promise<Packed> | undefined;

/** Pack `dir`; with `entry`, a copy of it with that entry file added and named in plugin.json. */
async function pack(dir: string, entry?: { file: string; text: string }): Promise<Packed> {
  const work = await Deno.makeTempDir({ prefix: "roam-pack-" });
  try {
    const src = join(work, "src");
    await Deno.mkdir(src);
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile) await Deno.copyFile(join(dir, entry.name), join(src, entry.name));
    }
    if (entry) {
      await Deno.writeTextFile(join(src, entry.file), entry.text);
      const manifest = JSON.parse(await Deno.readTextFile(join(src, "plugin.json")));
      await Deno.writeTextFile(
        join(src, "plugin.json"),
        JSON.stringify({ ...manifest, entry: entry.file }),
      );
    }
    const done = await packPlugin(src, { outDir: join(work, "out") });
    return { manifest: done.manifest, code: await Deno.readTextFile(done.bundlePath) };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/**
 * Install the lifecycle fixture (answering `pid` too) as `name`, with a
 * memory budget, and `hello` beside it.
 */
async function installAgents(mesh: Roam, name: string, memoryMb: number): Promise<void> {
  lifecyclePack ??= pack(join(ROOT, "tests/fixtures/agents"), {
    file: "with_pid.ts",
    text: LIFECYCLE_WITH_PID,
  });
  helloPack ??= pack(join(ROOT, "plugins/hello"));
  const lifecycle = await lifecyclePack;
  const hello = await helloPack;
  await mesh.plugin.add({
    manifest: { ...lifecycle.manifest, name, resources: { memoryMb } },
    code: lifecycle.code,
  });
  await mesh.plugin.add(hello);
}

Deno.test("a handler that throws gives its caller agent_error; the agent keeps its state and answers on", async () => {
  await using h = await hostWithClient();
  const { mesh } = h;
  await installAgents(mesh, "lifecycle", 256);
  const { id } = await mesh.agent.create({ plugin: "lifecycle" });
  assert.equal((await mesh.agent.send({ id, kind: "increment" })).reply, 1);

  const thrown = await failure(mesh.agent.send({ id, kind: "throw" }));
  assert.equal(thrown.code, "agent_error");
  assert.match(thrown.message, /asked to throw/);
  assert.equal((await mesh.agent.get({ id })).status, "active");
  assert.equal((await mesh.agent.send({ id, kind: "increment" })).reply, 2);
});

Deno.test("a hanging agent is stopped past its time limit: callers get crashed, the host and other agents carry on, restart brings back its last good state", async () => {
  await using h = await hostWithClient();
  const { mesh } = h;
  await installAgents(mesh, "lifecycle", 256);
  const { id } = await mesh.agent.create({ plugin: "lifecycle" });
  const other = (await mesh.agent.create({ plugin: "hello" })).id;
  await mesh.agent.send({ id, kind: "increment" });
  await mesh.agent.send({ id, kind: "increment" });
  const pid = (await mesh.agent.send({ id, kind: "pid" })).reply as number;

  const hang = failure(mesh.agent.send({ id, kind: "hang", timeoutMs: 300 }));
  // While it spins, the host and the other agent answer.
  assert.equal((await mesh.host.health()).ok, true);
  assert.deepEqual(
    (await mesh.agent.send({ id: other, kind: "echo", args: "still here" })).reply,
    "still here",
  );
  const hung = await hang;
  assert.equal(hung.code, "crashed");
  assert.match(hung.message, /300 ms time limit/);
  const record = await mesh.agent.get({ id });
  assert.equal(record.status, "crashed");
  assert.match(record.reason ?? "", /hang|hung|time limit/);
  assert.equal((await failure(mesh.agent.send({ id, kind: "count" }))).code, "crashed");
  // Its runner is not left behind.
  await exited(pid);
  const { events } = await mesh.events.since({ types: ["agent.crashed"] });
  assert.deepEqual(events.map((e) => e.subject), [id]);

  await mesh.agent.restart({ id });
  assert.equal((await mesh.agent.send({ id, kind: "count" })).reply, 2);
  const hooks = (await mesh.agent.send({ id, kind: "hooks" })).reply as string[];
  assert.deepEqual(hooks.slice(-2), ["onActivation", "run"]);

  // Callers waiting behind a hung handler, or beside it at priority 0, get crashed too.
  const queuedHang = await mesh.agent.send({ id, kind: "hang", timeoutMs: 300, oneway: true });
  assert.equal(queuedHang.status, "accepted");
  const behind = mesh.agent.send({ id, kind: "count" });
  const beside = mesh.agent.send({ id, kind: "echo", args: 1, priority: 0 });
  assert.equal((await failure(behind)).code, "crashed");
  assert.equal((await failure(beside)).code, "crashed");
  await mesh.agent.restart({ id });
  assert.equal((await mesh.agent.send({ id, kind: "count" })).reply, 2);
  assert.equal((await mesh.agent.send({ id: other, kind: "increment" })).reply, 1);
});

Deno.test("an agent that eats memory past its budget takes down its own runner only; restart brings it back", async () => {
  await using h = await hostWithClient();
  const { mesh } = h;
  await installAgents(mesh, "hungry", 64);
  const { id } = await mesh.agent.create({ plugin: "hungry" });
  const other = (await mesh.agent.create({ plugin: "hello" })).id;
  await mesh.agent.send({ id: other, kind: "increment" });
  assert.equal((await mesh.agent.send({ id, kind: "increment" })).reply, 1);
  const pid = (await mesh.agent.send({ id, kind: "pid" })).reply as number;

  const ate = await failure(mesh.agent.send({ id, kind: "eat-memory" }));
  assert.equal(ate.code, "crashed");
  assert.match(ate.message, /runner process died .*out of memory past the 64 MB budget/);
  await exited(pid);
  assert.equal((await mesh.agent.get({ id })).status, "crashed");
  assert.equal((await mesh.host.health()).ok, true);
  assert.equal((await mesh.agent.send({ id: other, kind: "increment" })).reply, 2);

  await mesh.agent.restart({ id });
  assert.equal((await mesh.agent.send({ id, kind: "count" })).reply, 1);
  assert.notEqual((await mesh.agent.send({ id, kind: "pid" })).reply, pid);
});
