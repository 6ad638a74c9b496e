import assert from "node:assert/strict";
import type { DatabaseSync } from "node:sqlite";
import { RoamError } from "../errors/mod.ts";
import { EventLog, openStore, type RoamEvent } from "../store/mod.ts";
import type { SendRequest } from "./manager.ts";
import { AgentRecords } from "./records.ts";
import { type ServiceAgents, ServiceRegistry, type ServiceRegistryOptions } from "./services.ts";

const A = "00000000-0000-4000-8000-00000000000a";
const B = "00000000-0000-4000-8000-00000000000b";
const C = "00000000-0000-4000-8000-00000000000c";
const PLUGIN = { name: "clock", version: "1.0.0", sha256: "f".repeat(64), manifest: {} };

/** A stand-in for the agent manager: agents in `live` answer; records change as the real one would. */
class FakeAgents implements ServiceAgents {
  readonly sent: SendRequest[] = [];
  readonly live = new Set<string>([A, B, C]);
  activations = 0;
  readonly #records: AgentRecords;
  constructor(db: DatabaseSync) {
    this.#records = new AgentRecords(db);
  }
  send(request: SendRequest) {
    this.sent.push(request);
    if (!this.live.has(request.id) && !this.#records.get(request.id)) {
      return Promise.reject(new RoamError("not_found", "gone", { id: request.id }));
    }
    return Promise.resolve({ status: "replied" as const, reply: { by: request.id } });
  }
  async create(params: { plugin: string; state?: unknown; id?: string }) {
    const id = params.id ?? crypto.randomUUID();
    this.#records.put({
      id,
      plugin: params.plugin,
      version: "1.0.0",
      sha256: "0".repeat(64),
      status: "inactive",
      state: params.state ?? null,
      policy: { activateOnMessage: true, queueWhenInactive: true },
      activateAt: null,
      activateOnStartup: false,
      reason: null,
    });
    await this.activate(id);
    return id;
  }
  async activate(id: string) {
    this.activations++;
    await new Promise((resolve) => setTimeout(resolve, 20));
    this.#records.put({ ...this.#records.get(id)!, status: "active" });
  }
  restart(id: string) {
    return this.activate(id);
  }
  deactivate(id: string) {
    this.#records.put({ ...this.#records.get(id)!, status: "inactive" });
    return Promise.resolve();
  }
  dispose(id: string) {
    this.#records.delete(id);
    return Promise.resolve();
  }
}

function withRegistry(
  options: Partial<ServiceRegistryOptions>,
  fn: (ctx: {
    registry: ServiceRegistry;
    agents: FakeAgents;
    events: EventLog;
    db: DatabaseSync;
  }) => Promise<void> | void,
): () => Promise<void> {
  return async () => {
    const db = openStore({ path: ":memory:" });
    const events = new EventLog(db);
    const agents = new FakeAgents(db);
    const registry = new ServiceRegistry({
      db,
      events,
      plugins: { get: (name) => name === PLUGIN.name ? PLUGIN : undefined },
      agents: () => agents,
      ...options,
    });
    try {
      await fn({ registry, agents, events, db });
    } finally {
      registry.close();
      db.close();
    }
  };
}

/** The next event of a type. The registry's timer is unref'd, so this keeps the test alive meanwhile. */
function next(events: EventLog, type: string): Promise<RoamEvent> {
  const alive = setTimeout(() => {}, 10_000);
  return new Promise<RoamEvent>((resolve) => {
    const stop = events.listen((event) => {
      if (event.type !== type) return;
      stop();
      resolve(event);
    });
  }).finally(() => clearTimeout(alive));
}

const types = (events: EventLog, prefix = "service.") =>
  events.since({ since: 0, limit: 1000, types: [prefix] }).map((e) => e.type);

Deno.test(
  "lookup finds records by name or capability, oldest first; a renewal that changes nothing is no event",
  withRegistry({}, ({ registry, events }) => {
    registry.advertise(A, { name: "thumbs", capabilities: ["resize", "crop"] });
    registry.advertise(B, { name: "thumbs", capabilities: ["resize"], version: "2" });
    registry.advertise(B, { name: "clock", metadata: { tz: "UTC" } });
    assert.deepEqual(registry.lookup({ name: "thumbs" }).map((r) => r.agentId), [A, B]);
    assert.deepEqual(registry.lookup({ capability: "crop" }).map((r) => r.agentId), [A]);
    assert.deepEqual(registry.lookup({ name: "clock" })[0], {
      name: "clock",
      agentId: B,
      capabilities: [],
      version: "1",
      expiresAt: null,
      metadata: { tz: "UTC" },
    });
    assert.equal(registry.lookup().length, 3);
    registry.advertise(A, { name: "thumbs", capabilities: ["resize", "crop"] });
    assert.deepEqual(types(events), Array(3).fill("service.advertised"));
    assert.equal(registry.withdraw(A, "thumbs"), true);
    assert.equal(registry.withdraw(A, "thumbs"), false);
    assert.deepEqual(registry.lookup({ name: "thumbs" }).map((r) => r.agentId), [B]);
  }),
);

Deno.test(
  "an expired record is never returned, and the registry says so when it lapses",
  withRegistry({}, async ({ registry, events }) => {
    const expired = next(events, "service.expired");
    registry.advertise(A, { name: "brief", ttlMs: 30 });
    registry.advertise(B, { name: "brief" });
    assert.equal(registry.lookup({ name: "brief" }).length, 2);
    assert.equal((await expired).subject, A);
    assert.deepEqual(registry.lookup({ name: "brief" }).map((r) => r.agentId), [B]);
  }),
);

Deno.test(
  "an agent that leaves takes its records along",
  withRegistry({}, ({ registry, events }) => {
    registry.advertise(A, { name: "one" });
    registry.advertise(A, { name: "two" });
    registry.advertise(B, { name: "one" });
    registry.left(A);
    assert.deepEqual(registry.lookup().map((r) => [r.name, r.agentId]), [["one", B]]);
    const withdrawn = events.since({ since: 0, limit: 10, types: ["service.withdrawn"] });
    assert.deepEqual(withdrawn.map((e) => e.data), [
      { name: "one", reason: "agent_left" },
      { name: "two", reason: "agent_left" },
    ]);
  }),
);

Deno.test(
  "records are bounded per agent and per host, and lookups return at most maxResults",
  withRegistry({ maxPerAgent: 2, maxServices: 3, maxResults: 2 }, ({ registry }) => {
    registry.advertise(A, { name: "a1" });
    registry.advertise(A, { name: "a2" });
    registry.advertise(A, { name: "a2", ttlMs: 1000 }); // a renewal is not a new record
    assert.throws(() => registry.advertise(A, { name: "a3" }), /advertises 2 services already/);
    registry.advertise(B, { name: "b1" });
    assert.throws(() => registry.advertise(C, { name: "c1" }), /holds 3 service records/);
    assert.equal(registry.lookup().length, 2);
  }),
);

Deno.test(
  "a contract lookup matches name, version and the exact operation set",
  withRegistry({}, ({ registry }) => {
    const contract = { name: "calc", version: "2", operations: ["add", "negate"] };
    registry.advertise(A, {
      name: "calc",
      version: "2",
      capabilities: ["add", "negate"],
      metadata: { contract: { ...contract, operations: ["negate", "add"] } },
    });
    registry.advertise(B, { name: "calc", version: "2", capabilities: ["add", "negate"] });
    registry.advertise(C, {
      name: "calc",
      version: "1",
      metadata: { contract: { ...contract, version: "1" } },
    });
    assert.deepEqual(registry.lookup({ contract }).map((r) => r.agentId), [A]);
    assert.deepEqual(
      registry.lookup({ contract: { ...contract, operations: ["add"] } }).length,
      0,
    );
    assert.throws(
      () => registry.advertise(A, { name: "calc", metadata: { contract: { name: "calc" } } }),
      /metadata.contract/,
    );
  }),
);

Deno.test(
  "a call goes to the first service offering the operation, never to the caller, and skips an agent that vanished",
  withRegistry({}, async ({ registry, agents }) => {
    registry.advertise(A, { name: "clock", capabilities: ["now"] });
    registry.advertise(B, { name: "clock", capabilities: ["now", "zone"] });
    assert.deepEqual(await registry.call({ name: "clock", operation: "zone" }, null), {
      agentId: B,
      reply: { by: B },
    });
    assert.equal((await registry.call({ name: "clock", operation: "now" }, A)).agentId, B);
    agents.live.delete(A);
    assert.equal((await registry.call({ name: "clock", operation: "now" }, null)).agentId, B);
    assert.deepEqual(registry.lookup({ name: "clock" }).map((r) => r.agentId), [B]);
    await assert.rejects(
      registry.call({ name: "clock", operation: "alarm" }, null),
      /offers operation "alarm"; they offer now, zone/,
    );
    await assert.rejects(registry.call({ name: "clock", operation: "now" }, B), /caller's own/);
    await assert.rejects(
      registry.call({ name: "nope", operation: "now" }, null),
      /no live service/,
    );
  }),
);

Deno.test(
  "a resident service is advertised at once and its agent starts once for concurrent calls",
  withRegistry({}, async ({ registry, agents, db }) => {
    const declared = await registry.declareResident({ name: "clock", plugin: "clock", idleMs: 50 });
    assert.equal(declared.resident?.status, "not_started");
    assert.equal(new AgentRecords(db).get(declared.agentId), undefined);
    const replies = await Promise.all(
      [1, 2, 3].map(() => registry.call({ name: "clock", operation: "now" }, null)),
    );
    assert.ok(replies.every((r) => r.agentId === declared.agentId));
    assert.equal(agents.activations, 1);
    assert.equal(registry.list({ name: "clock" })[0].resident?.status, "active");
    registry.left(declared.agentId);
    assert.equal(registry.lookup({ name: "clock" }).length, 1, "a declaration outlives its agent");
    await assert.rejects(
      registry.declareResident({ name: "x", plugin: "missing" }),
      /no plugin missing is installed/,
    );
  }),
);

Deno.test(
  "a resident declaration is kept in the database; undeclaring disposes of its agent",
  withRegistry({}, async ({ registry, db, events, agents }) => {
    const { agentId } = await registry.declareResident({ name: "clock", plugin: "clock" });
    await registry.call({ name: "clock", operation: "now" }, null);
    const again = new ServiceRegistry({
      db,
      events,
      plugins: { get: () => PLUGIN },
      agents: () => agents,
    });
    try {
      assert.equal(again.lookup({ name: "clock" })[0].agentId, agentId);
    } finally {
      again.close();
    }
    assert.equal(await registry.undeclareResident("clock"), true);
    assert.equal(await registry.undeclareResident("clock"), false);
    assert.equal(new AgentRecords(db).get(agentId), undefined);
    assert.equal(registry.lookup().length, 0);
  }),
);

Deno.test(
  "malformed requests from an agent are invalid_input; storage without a store is unsupported",
  withRegistry({}, async ({ registry }) => {
    const agent = { id: A, plugin: "clock" };
    await assert.rejects(
      registry.request(agent, "services.advertise", { name: "bad name" }),
      (e) => e instanceof RoamError && e.code === "invalid_input" && /name/.test(e.message),
    );
    await assert.rejects(
      registry.request(agent, "services.advertise", { name: "x", ttlMs: -1 }),
      (e) => e instanceof RoamError && e.code === "invalid_input",
    );
    await assert.rejects(
      registry.request(agent, "storage.get", { key: "a" }),
      (e) => e instanceof RoamError && e.code === "unsupported",
    );
  }),
);
