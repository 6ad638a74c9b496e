/**
 * Services between agents on a real host: advertise, lookup and call, time
 * to live, records dropped when an agent leaves, resident services that
 * start on the first call and sleep when idle, and typed contracts.
 */
import assert from "node:assert/strict";
import { connect, isRoamError, type RoamEvent } from "../mod.ts";
import type { Host } from "../src/host/mod.ts";
import { ask, installPluginDir as install } from "./support/agents.ts";
import { startTestHost } from "./support/host.ts";

const TOOLBOX = new URL("./fixtures/plugins/toolbox", import.meta.url).pathname;
const CALC = new URL("./fixtures/plugins/calc", import.meta.url).pathname;

/** The first event (from now on) that matches; start waiting before causing it. */
function nextEvent(
  host: Host,
  match: (event: RoamEvent) => boolean,
  timeoutMs = 15_000,
): Promise<RoamEvent> {
  let stop = () => {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new Promise<RoamEvent>((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no matching event in ${timeoutMs} ms`)), timeoutMs);
    stop = host.events.listen((event) => {
      if (match(event)) resolve(event);
    });
  }).finally(() => {
    clearTimeout(timer);
    stop();
  });
}

const rejectsWith = (code: string, message?: RegExp) => (error: unknown) => {
  assert.ok(isRoamError(error), String(error));
  assert.equal(error.code, code, error.message);
  if (message) assert.match(error.message, message);
  return true;
};

type Record = { name: string; agentId: string; capabilities: string[]; expiresAt: string | null };

Deno.test("an agent finds another's service by capability and calls it through the registry", async () => {
  await using t = await startTestHost();
  const mesh = await connect({ url: t.host.url, token: t.token });
  try {
    await install(mesh, TOOLBOX);
    const { id: server } = await mesh.agent.create({ plugin: "toolbox" });
    const { id: client } = await mesh.agent.create({ plugin: "toolbox" });
    const advertised = await ask(mesh, server, "advertise", {
      name: "doubler",
      capabilities: ["double"],
      version: "3",
      metadata: { region: "lab" },
    }) as Record;
    assert.equal(advertised.agentId, server);

    const found = await ask(mesh, client, "lookup", { capability: "double" }) as Record[];
    assert.deepEqual(found.map((r) => [r.name, r.agentId]), [["doubler", server]]);
    assert.deepEqual(await ask(mesh, client, "lookup", { name: "nothing" }), []);

    const reply = await ask(mesh, client, "call", {
      name: "doubler",
      operation: "double",
      args: { x: 21 },
    });
    assert.deepEqual(reply, { value: 42, by: server, from: client, calls: 1 });

    // From outside, over RPC.
    const viaRpc = await mesh.service.call({
      name: "doubler",
      operation: "double",
      args: { x: 2 },
    });
    assert.deepEqual(viaRpc, {
      agentId: server,
      reply: { value: 4, by: server, from: null, calls: 2 },
    });
    const listed = await mesh.service.list({});
    assert.deepEqual(listed.services.map((s) => [s.name, s.version, s.metadata]), [
      ["doubler", "3", { region: "lab" }],
    ]);

    await assert.rejects(
      ask(mesh, client, "call", { name: "doubler", operation: "triple", args: {} }),
      rejectsWith("not_found", /offers operation "triple"; they offer double/),
    );

    const withdrawn = nextEvent(t.host, (e) => e.type === "service.withdrawn");
    await ask(mesh, server, "withdraw", { name: "doubler" });
    assert.deepEqual((await withdrawn).data, { name: "doubler", reason: "withdrawn" });
    await assert.rejects(
      ask(mesh, client, "call", { name: "doubler", operation: "double", args: { x: 1 } }),
      rejectsWith("not_found", /no live service doubler/),
    );
  } finally {
    await mesh.close();
  }
});

Deno.test("an advertisement with a time to live lapses: service.expired, and lookups stop returning it", async () => {
  await using t = await startTestHost();
  const mesh = await connect({ url: t.host.url, token: t.token });
  try {
    await install(mesh, TOOLBOX);
    const { id } = await mesh.agent.create({ plugin: "toolbox" });
    const expired = nextEvent(t.host, (e) => e.type === "service.expired");
    const record = await ask(mesh, id, "advertise", { name: "brief", ttlMs: 300 }) as Record;
    assert.ok(record.expiresAt && Date.parse(record.expiresAt) > Date.now() - 1000);
    await ask(mesh, id, "advertise", { name: "lasting" });
    assert.equal((await ask(mesh, id, "lookup", { name: "brief" }) as Record[]).length, 1);

    const event = await expired;
    assert.equal(event.subject, id);
    assert.deepEqual(event.data, { name: "brief" });
    assert.deepEqual(await ask(mesh, id, "lookup", { name: "brief" }), []);
    assert.deepEqual((await mesh.service.list({})).services.map((s) => s.name), ["lasting"]);
  } finally {
    await mesh.close();
  }
});

Deno.test("an agent's records go when it is disposed of or crashes", async () => {
  await using t = await startTestHost();
  const mesh = await connect({ url: t.host.url, token: t.token });
  try {
    await install(mesh, TOOLBOX);
    const { id: disposed } = await mesh.agent.create({ plugin: "toolbox" });
    const { id: crashing } = await mesh.agent.create({ plugin: "toolbox" });
    const { id: staying } = await mesh.agent.create({ plugin: "toolbox" });
    await ask(mesh, disposed, "advertise", { name: "one" });
    await ask(mesh, disposed, "advertise", { name: "two" });
    await ask(mesh, crashing, "advertise", { name: "one" });
    await ask(mesh, staying, "advertise", { name: "one" });
    assert.equal((await mesh.service.list({ name: "one" })).services.length, 3);

    await mesh.agent.dispose({ id: disposed });
    const crashed = nextEvent(
      t.host,
      (e) => e.type === "service.withdrawn" && e.subject === crashing,
    );
    await ask(mesh, crashing, "crash");
    assert.deepEqual((await crashed).data, { name: "one", reason: "agent_left" });
    assert.equal((await mesh.agent.get({ id: crashing })).status, "crashed");

    const left = (await mesh.service.list({})).services.map((s) => [s.name, s.agentId]);
    assert.deepEqual(left, [["one", staying]]);
    const reply = await mesh.service.call({ name: "one", operation: "double", args: { x: 5 } });
    assert.equal(reply.agentId, staying);
  } finally {
    await mesh.close();
  }
});

Deno.test("a resident service is advertised at once, starts on its first call, and sleeps when idle", async () => {
  await using t = await startTestHost();
  const mesh = await connect({ url: t.host.url, token: t.token });
  try {
    await install(mesh, TOOLBOX);
    const declared = await mesh.service.declare({
      name: "resident-doubler",
      plugin: "toolbox",
      capabilities: ["double"],
      idleMs: 400,
    });
    const agentId = declared.agentId;
    assert.deepEqual(declared.resident, { plugin: "toolbox", idleMs: 400, status: "not_started" });
    await assert.rejects(mesh.agent.get({ id: agentId }), rejectsWith("not_found"));

    // Three calls at once: one start.
    const since = t.host.events.bounds().latest;
    const replies = await Promise.all(
      [1, 2, 3].map((x) =>
        mesh.service.call({ name: "resident-doubler", operation: "double", args: { x } })
      ),
    );
    assert.deepEqual(replies.map((r) => (r.reply as { value: number }).value), [2, 4, 6]);
    assert.ok(replies.every((r) => r.agentId === agentId));
    const started = t.host.events.since({ since, limit: 100, types: ["service.started"] });
    assert.deepEqual(started.map((e) => [e.subject, e.data.how]), [[agentId, "created"]]);
    assert.equal((await mesh.agent.get({ id: agentId })).status, "active");

    const idle = await nextEvent(t.host, (e) => e.type === "service.idle_stopped");
    assert.equal(idle.subject, agentId);
    assert.equal((await mesh.agent.get({ id: agentId })).status, "inactive");
    const listed = await mesh.service.list({ name: "resident-doubler" });
    assert.equal(listed.services[0].resident?.status, "inactive");

    // Another agent calls it: it wakes under the same id, with the state it had.
    const { id: client } = await mesh.agent.create({ plugin: "toolbox" });
    const woken = nextEvent(t.host, (e) => e.type === "service.started");
    const reply = await ask(mesh, client, "call", {
      name: "resident-doubler",
      operation: "double",
      args: { x: 10 },
    });
    assert.deepEqual(reply, { value: 20, by: agentId, from: client, calls: 4 });
    assert.equal((await woken).data.how, "activated");

    const removed = await mesh.service.undeclare({ name: "resident-doubler" });
    assert.equal(removed.removed, true);
    await assert.rejects(mesh.agent.get({ id: agentId }), rejectsWith("not_found"));
    assert.deepEqual((await mesh.service.list({})).services, []);
  } finally {
    await mesh.close();
  }
});

Deno.test("a resident declaration and its agent id survive a host restart", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-resident-" });
  try {
    let agentId: string;
    {
      await using t = await startTestHost({ dataDir });
      const mesh = await connect({ url: t.host.url, token: t.token });
      try {
        await install(mesh, TOOLBOX);
        agentId = (await mesh.service.declare({ name: "clock", plugin: "toolbox" })).agentId;
        await mesh.service.call({ name: "clock", operation: "double", args: { x: 1 } });
      } finally {
        await mesh.close();
      }
    }
    await using t = await startTestHost({ dataDir });
    const mesh = await connect({ url: t.host.url, token: t.token });
    try {
      const [listed] = (await mesh.service.list({ name: "clock" })).services;
      assert.equal(listed.agentId, agentId);
      const { reply } = await mesh.service.call({
        name: "clock",
        operation: "double",
        args: { x: 2 },
      });
      assert.deepEqual(reply, { value: 4, by: agentId, from: null, calls: 2 });
    } finally {
      await mesh.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a typed contract: lookups match name, version and operations; each side checks what crosses", async () => {
  await using t = await startTestHost();
  const mesh = await connect({ url: t.host.url, token: t.token });
  try {
    await install(mesh, CALC);
    await install(mesh, TOOLBOX);
    const { id: server } = await mesh.agent.create({ plugin: "calc" });
    const { id: client } = await mesh.agent.create({ plugin: "calc" });
    const { id: impostor } = await mesh.agent.create({ plugin: "toolbox" });
    // Same name, version and capabilities, but no contract: not a match.
    await ask(mesh, impostor, "advertise", {
      name: "calc",
      version: "2",
      capabilities: ["add", "negate"],
    });
    const record = await ask(mesh, server, "serve") as Record & { metadata: unknown };
    assert.deepEqual(record.metadata, {
      contract: { name: "calc", version: "2", operations: ["add", "negate"] },
    });

    const found = await ask(mesh, client, "find") as Record[];
    assert.deepEqual(found.map((r) => r.agentId), [server]);
    const contract = await ask(mesh, client, "ref") as {
      name: string;
      version: string;
      operations: string[];
    };
    assert.equal((await mesh.service.list({ contract })).services.length, 1);
    assert.equal(
      (await mesh.service.list({ contract: { ...contract, version: "1" } })).services.length,
      0,
    );
    assert.equal(
      (await mesh.service.list({ contract: { ...contract, operations: ["add"] } })).services
        .length,
      0,
    );

    // The impostor was advertised first, yet a contract call only goes to the server.
    assert.deepEqual(await ask(mesh, client, "callAdd", { a: 2, b: 3 }), { sum: 5 });
    assert.deepEqual(await ask(mesh, client, "callNegate", { x: 4 }), { value: -4 });
    await assert.rejects(
      ask(mesh, client, "callAddBad"),
      rejectsWith("invalid_input", /the request of add does not match contract calc@2/),
    );

    // A server that answers the wrong shape is caught on its own side.
    await mesh.agent.dispose({ id: server });
    await assert.rejects(
      ask(mesh, client, "callAdd", { a: 1, b: 1 }),
      rejectsWith("not_found", /no live service calc@2 with contract operations add, negate/),
    );
    const { id: broken } = await mesh.agent.create({ plugin: "calc" });
    await ask(mesh, broken, "serve", { broken: true });
    await assert.rejects(
      ask(mesh, client, "callNegate", { x: 4 }),
      rejectsWith("invalid_input", /the reply of negate does not match contract calc@2/),
    );
  } finally {
    await mesh.close();
  }
});
