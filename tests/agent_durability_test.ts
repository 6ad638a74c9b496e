import assert from "node:assert/strict";
import { connect, type Roam } from "../mod.ts";
import { CliProcess, roam } from "./support/cli.ts";
import { childrenOf, exited } from "./support/agents.ts";
import { startTestHost } from "./support/host.ts";

const FIXTURE = new URL("./fixtures/agents", import.meta.url).pathname;

async function startHostProcess(dataDir: string): Promise<{ host: CliProcess; mesh: Roam }> {
  const host = new CliProcess(["--data-dir", dataDir, "host", "--port", "0"]);
  await host.waitFor(/listening on/);
  return { host, mesh: await connect({ dataDir }) };
}

Deno.test("1,000 messages queued for a sleeping agent survive kill -9 and restart: none lost, none duplicated", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-durable-" });
  let first: CliProcess | undefined;
  let second: CliProcess | undefined;
  try {
    const started = await startHostProcess(dataDir);
    first = started.host;
    const added = await roam(["--data-dir", dataDir, "plugin", "add", FIXTURE]);
    assert.equal(added.code, 0, added.stderr);
    const { id } = await started.mesh.agent.create({ plugin: "lifecycle" });
    await started.mesh.agent.deactivate({ id, activateOnMessage: false, queueWhenInactive: true });
    for (let i = 0; i < 1000; i++) {
      const outcome = await started.mesh.agent.send({ id, kind: "record", args: i });
      assert.equal(outcome.status, "queued");
      assert.equal(outcome.position, i + 1);
    }
    // A sleeping agent has no runner; one left running does, and it must exit with the host.
    await started.mesh.agent.create({ plugin: "lifecycle" });
    const runners = childrenOf(first.child.pid);
    assert.ok(runners.length > 0, "the running agent has a runner process");
    first.child.kill("SIGKILL");
    assert.equal((await first.stop()).signal, "SIGKILL");
    first = undefined;
    // Runners read their commands on stdin; with the host gone it closes and they exit.
    for (const pid of runners) await exited(pid);

    const restarted = await startHostProcess(dataDir);
    second = restarted.host;
    const before = await restarted.mesh.agent.get({ id });
    assert.equal(before.status, "inactive");
    assert.equal(before.queued, 1000);
    await restarted.mesh.agent.activate({ id });
    const outcome = await restarted.mesh.agent.send({ id, kind: "hooks" });
    const records = (outcome.reply as string[]).filter((h) => h.startsWith("record:")).map((h) =>
      Number(h.slice(7))
    );
    assert.deepEqual(records, Array.from({ length: 1000 }, (_, i) => i));
    assert.equal((await restarted.mesh.agent.get({ id })).queued, 0);
  } finally {
    await first?.stop("SIGKILL");
    await second?.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a clean shutdown puts every agent to sleep and the next start wakes them with their state", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-restore-" });
  try {
    let id: string;
    {
      await using t = await startTestHost({ dataDir });
      const mesh = await connect({ url: t.host.url, token: t.token });
      const added = await roam(["--data-dir", dataDir, "plugin", "add", FIXTURE]);
      assert.equal(added.code, 0, added.stderr);
      id = (await mesh.agent.create({ plugin: "lifecycle" })).id;
      await mesh.agent.send({ id, kind: "increment" });
      await mesh.agent.send({ id, kind: "increment" });
    }
    await using t = await startTestHost({ dataDir });
    const mesh = await connect({ url: t.host.url, token: t.token });
    // A message first: what run() changed reaches the host before its reply.
    assert.equal((await mesh.agent.send({ id, kind: "count" })).reply, 2);
    const agent = await mesh.agent.get({ id, withState: true });
    assert.equal(agent.status, "active");
    const state = agent.state as { count: number; hooks: string[] };
    assert.equal(state.count, 2);
    assert.deepEqual(state.hooks, [
      "onCreation:null",
      "run",
      "onDeactivating",
      "onActivation",
      "run",
    ]);
    const { events } = await mesh.events.since({ since: 0, types: ["agent."] });
    assert.deepEqual(events.map((e) => e.type), [
      "agent.created",
      "agent.deactivated",
      "agent.startup",
    ]);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("an agent asked to wake at a time wakes by itself", async () => {
  await using t = await startTestHost();
  const mesh = await connect({ url: t.host.url, token: t.token });
  try {
    const added = await roam(["--data-dir", t.dataDir, "plugin", "add", FIXTURE]);
    assert.equal(added.code, 0, added.stderr);
    const { id } = await mesh.agent.create({ plugin: "lifecycle" });
    let woke!: () => void;
    const wakes = new Promise<void>((resolve) => woke = resolve);
    const sub = await mesh.subscribe(
      { types: ["agent.scheduled"] },
      (e) => e.subject === id && woke(),
    );
    await mesh.agent.deactivate({ id, activateOnMessage: false, activateAt: Date.now() + 300 });
    assert.equal((await mesh.agent.get({ id })).status, "inactive");
    await wakes;
    await sub.close();
    assert.equal((await mesh.agent.get({ id })).status, "active");
  } finally {
    await mesh.close();
  }
});

Deno.test("agent code never sees roam's own environment (a ROAM_TOKEN), even when granted", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-env-" });
  const host = new CliProcess(["--data-dir", dataDir, "host", "--port", "0"], {
    ROAM_TOKEN: "roam1.not.for-agents",
    LIFECYCLE_GREETING: "hello",
  });
  try {
    await host.waitFor(/listening on/);
    const mesh = await connect({ dataDir });
    const added = await roam(["--data-dir", dataDir, "plugin", "add", FIXTURE]);
    assert.equal(added.code, 0, added.stderr);
    await mesh.plugin.grant({ name: "lifecycle", env: ["ROAM_TOKEN", "LIFECYCLE_GREETING"] });
    const { id } = await mesh.agent.create({ plugin: "lifecycle" });
    assert.equal(
      (await mesh.agent.send({ id, kind: "env", args: "LIFECYCLE_GREETING" })).reply,
      "hello",
    );
    assert.equal((await mesh.agent.send({ id, kind: "env", args: "ROAM_TOKEN" })).reply, null);
  } finally {
    await host.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});
