/**
 * The job queue on the real capability runtime: echo-deno and echo-py
 * (system Python) workers, a worker that dies mid-call retried once, a
 * running stream cancelled, an agent calling a capability through its
 * context, and the peak RAM learned from a real measurement.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { isRoamError } from "../mod.ts";
import { RpcWsClient } from "../src/rpc/mod.ts";
import { ask, hostWithClient, installPluginDir } from "./support/agents.ts";
import { within } from "./support/wait.ts";

const PLUGINS = new URL("../plugins", import.meta.url).pathname;
const CAPCALLER = new URL("./fixtures/plugins/capcaller", import.meta.url).pathname;

async function hasPython(): Promise<boolean> {
  try {
    return (await new Deno.Command("python3", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output()).success;
  } catch {
    return false;
  }
}
const python = await hasPython();
if (!python) console.log("skipped: the echo-py queue tests need python3 on PATH");

Deno.test("echo-deno through the queue: a call, progress over a WebSocket, a cancelled stream, and an agent's ctx call", async () => {
  await using h = await hostWithClient({ capabilities: { timings: { stopGraceMs: 1_000 } } });
  await h.mesh.capability.add({ dir: join(PLUGINS, "echo-deno") });

  const called = await h.mesh.capability.call({
    capability: "echo-deno",
    method: "echo",
    args: { a: 1 },
  });
  assert.deepEqual((called.result as { echo: unknown }).echo, { a: 1 });

  const ws = await RpcWsClient.connect({ url: h.t.host.url, token: h.t.token });
  try {
    const heard: string[] = [];
    ws.on("job.progress", (p) => heard.push((p as { message: string }).message));
    const counted = await ws.call("capability.call", {
      capability: "echo-deno",
      method: "count",
      args: { to: 3, delayMs: 1 },
    }) as { result: unknown };
    assert.deepEqual(counted.result, { counted: 3 });
    assert.deepEqual(heard, ["counted 1 of 3", "counted 2 of 3", "counted 3 of 3"]);
  } finally {
    await ws.close();
  }

  const stream = await h.mesh.job.submit({
    capability: "echo-deno",
    method: "count",
    args: { to: 10_000, delayMs: 5 },
  });
  await within(
    10_000,
    "progress",
    (async () => {
      while (!(await h.mesh.job.get({ id: stream.id })).progress) {
        await new Promise((r) => setTimeout(r, 10));
      }
    })(),
  );
  const cancelled = await h.mesh.job.cancel({ id: stream.id });
  assert.equal(cancelled.status, "cancelled");
  assert.equal(cancelled.attempts, 1, "a cancelled call is not retried");

  // Its concurrency is 4: six jobs at once run four at a time on one worker.
  const six = await Promise.all(
    Array.from(
      { length: 6 },
      () =>
        h.mesh.job.submit({
          capability: "echo-deno",
          method: "count",
          args: { to: 5, delayMs: 20 },
        }),
    ),
  );
  let most = 0;
  await within(
    30_000,
    "six echo-deno jobs",
    (async () => {
      while (true) {
        const r = await h.mesh.job.resources();
        const workers = r.instances.filter((i) =>
          i.capability === "echo-deno" && i.state !== "stopping"
        );
        assert.ok(workers.length <= 1, `${workers.length} echo-deno workers`);
        most = Math.max(most, r.running);
        assert.ok(r.running <= 4, `${r.running} running at once`);
        if (r.running === 0 && r.queued === 0) return;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })(),
  );
  for (const job of six) {
    assert.equal((await h.mesh.job.get({ id: job.id })).status, "succeeded");
  }
  assert.ok(most >= 2, `at most ${most} ran at once`);

  await installPluginDir(h.mesh, CAPCALLER);
  const { id } = await h.mesh.agent.create({ plugin: "capcaller" });
  const reply = await ask(h.mesh, id, "call", {
    capability: "echo-deno",
    method: "echo",
    args: "from an agent",
  }) as { ok: { echo: unknown } };
  assert.equal(reply.ok.echo, "from an agent");
  const failed = await ask(h.mesh, id, "call", {
    capability: "echo-deno",
    method: "fail",
    args: { mode: "user_input" },
  }) as { error: string; category: string };
  assert.deepEqual([failed.error, failed.category], ["invalid_input", "user_input"]);
});

Deno.test({
  name:
    "echo-py through the queue: a worker that dies mid-call is retried once, journaled, and its peak RAM is learned",
  ignore: !python,
  fn: async () => {
    await using h = await hostWithClient({ capabilities: { timings: { stopGraceMs: 1_000 } } });
    await h.mesh.capability.add({ dir: join(PLUGINS, "echo-py") });
    const ok = await h.mesh.capability.call({
      capability: "echo-py",
      method: "echo",
      args: { x: 1 },
    });
    assert.ok(ok.result);

    await assert.rejects(
      h.mesh.capability.call({ capability: "echo-py", method: "fail", args: { mode: "exit" } }),
      (e) => isRoamError(e) && e.data.category === "transient" && e.data.attempts === 2,
    );
    const [died] = (await h.mesh.job.list({ status: "failed" })).jobs;
    const journal = (await h.mesh.job.get({ id: died.id, journal: true })).journal!;
    assert.deepEqual(journal.map((e) => e.event), [
      "submitted",
      "admitted",
      "attempt_started",
      "attempt_ended",
      "retry",
      "admitted",
      "attempt_started",
      "attempt_ended",
      "finished",
    ]);
    // Two different worker processes ran the two attempts (the first died).
    const instances = journal.filter((e) => e.event === "attempt_started").map((e) =>
      e.data.instance
    );
    assert.notEqual(instances[0], instances[1]);

    const db = new DatabaseSync(join(h.t.dataDir, "roam.db"), { readOnly: true });
    try {
      const row = db.prepare(
        "SELECT peak_ram_mb, samples FROM capability_profiles WHERE capability = 'echo-py'",
      ).get() as { peak_ram_mb: number; samples: number };
      assert.ok(row.peak_ram_mb > 0, "a real RSS peak was learned");
      assert.ok(row.samples >= 1);
    } finally {
      db.close();
    }
  },
});
