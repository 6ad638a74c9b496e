/**
 * The job queue on a fake capability runtime: order, concurrency, bounds,
 * waiting reasons, cancellation, the one retry, and recovery after a restart.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { isRoamError } from "../src/errors/mod.ts";
import { openStore } from "../src/store/mod.ts";
import { JobQueue, type QueueLimits } from "../src/capabilities/queue.ts";
import {
  type FakeCapability,
  fakeFailure,
  FakeProbe,
  FakeRuntime,
  gate,
} from "../src/capabilities/queue_fake.ts";
import { within } from "./support/wait.ts";

/** Resolve once a job runs. */
async function running(queue: JobQueue, id: string) {
  await within(
    5_000,
    `job ${id} running`,
    (async () => {
      while (queue.view(id)!.status !== "running") await new Promise((r) => setTimeout(r, 2));
    })(),
  );
}

function setup(
  capabilities: FakeCapability[],
  limits: Partial<QueueLimits> = {},
  path = ":memory:",
) {
  const db = openStore({ path });
  const runtime = new FakeRuntime(capabilities);
  const probe = new FakeProbe({ ramTotalMb: 64_000, ramAvailableMb: 60_000 });
  const queue = new JobQueue({ db, runtime, probe, limits: { idleMs: 3_600_000, ...limits } });
  queue.start();
  return {
    db,
    runtime,
    probe,
    queue,
    async [Symbol.asyncDispose]() {
      await queue.close();
      await runtime.close();
      db.close();
    },
  };
}

Deno.test("jobs run highest priority first, first in first out within a priority", async () => {
  const hold = gate();
  const order: string[] = [];
  await using t = setup([{
    name: "echo",
    handler: async (c) => {
      if (c.args === "first") await hold.promise;
      order.push(String(c.args));
      return c.args;
    },
  }]);
  const first = await t.queue.submit({ capability: "echo", method: "run", args: "first" });
  await running(t.queue, first.id);
  const low1 = await t.queue.submit({
    capability: "echo",
    method: "run",
    args: "low1",
    priority: 1,
  });
  const high1 = await t.queue.submit({
    capability: "echo",
    method: "run",
    args: "high1",
    priority: 9,
  });
  const low2 = await t.queue.submit({
    capability: "echo",
    method: "run",
    args: "low2",
    priority: 1,
  });
  const high2 = await t.queue.submit({
    capability: "echo",
    method: "run",
    args: "high2",
    priority: 9,
  });
  const mid = await t.queue.submit({ capability: "echo", method: "run", args: "mid" });
  assert.deepEqual(
    [high1, high2, mid, low1, low2].map((j) => t.queue.view(j.id)!.position),
    [1, 2, 3, 4, 5],
  );
  hold.open();
  for (const j of [first, low1, high1, low2, high2, mid]) {
    assert.equal((await within(5_000, "job", t.queue.wait(j.id, 5_000))).status, "succeeded");
  }
  assert.deepEqual(order, ["first", "high1", "high2", "mid", "low1", "low2"]);
});

Deno.test("an instance runs at most its concurrency of calls; the others wait with that reason", async () => {
  const hold = gate();
  let running = 0, most = 0;
  await using t = setup([{
    name: "pair",
    concurrency: 2,
    handler: async () => {
      most = Math.max(most, ++running);
      await hold.promise;
      running--;
    },
  }]);
  const jobs = [];
  for (let i = 0; i < 5; i++) jobs.push(await t.queue.submit({ capability: "pair", method: "go" }));
  await within(
    5_000,
    "two running",
    (async () => {
      while (running < 2) await new Promise((r) => setTimeout(r, 5));
    })(),
  );
  const waiting = t.queue.view(jobs[2].id)!;
  assert.equal(waiting.status, "queued");
  assert.equal(waiting.position, 1);
  assert.match(waiting.reason!, /waiting for a free call slot: pair-\d+ runs 2 of 2 calls/);
  assert.equal(t.queue.view(jobs[4].id)!.position, 3);
  hold.open();
  for (const j of jobs) assert.equal((await t.queue.wait(j.id, 5_000)).status, "succeeded");
  assert.equal(most, 2);
  assert.equal(t.runtime.started.length, 1, "one instance (maxInstances 1)");
});

Deno.test("a full queue refuses with queue_full and says what to do", async () => {
  const hold = gate();
  await using t = setup([{ name: "slow", handler: () => hold.promise }], { maxQueued: 2 });
  const first = await t.queue.submit({ capability: "slow", method: "x" });
  await running(t.queue, first.id);
  await t.queue.submit({ capability: "slow", method: "x" });
  await t.queue.submit({ capability: "slow", method: "x" });
  await assert.rejects(
    t.queue.submit({ capability: "slow", method: "x" }),
    (e) =>
      isRoamError(e, "queue_full") && /2 jobs wait \(limit 2\).*roam jobs cancel/.test(e.message),
  );
  hold.open();
});

Deno.test("unknown capabilities and methods are refused with what exists", async () => {
  await using t = setup([{ name: "echo", methods: ["echo", "stream"] }]);
  await assert.rejects(
    t.queue.submit({ capability: "nope", method: "x" }),
    (e) => isRoamError(e, "not_found") && /it has echo/.test(e.message),
  );
  await assert.rejects(
    t.queue.submit({ capability: "echo", method: "shout" }),
    (e) => isRoamError(e, "invalid_input") && /offers echo, stream/.test(e.message),
  );
});

Deno.test("cancel: a queued job leaves the queue; a running job's signal reaches execute", async () => {
  let sawAbort = false;
  await using t = setup([{
    name: "slow",
    handler: (c) =>
      new Promise((_, reject) => {
        c.signal?.addEventListener("abort", () => {
          sawAbort = true;
          reject(new Error("aborted inside"));
        });
      }),
  }]);
  const busy = await t.queue.submit({ capability: "slow", method: "x" });
  await running(t.queue, busy.id);
  const queued = await t.queue.submit({ capability: "slow", method: "x" });
  const c1 = await t.queue.cancel(queued.id, "test");
  assert.equal(c1.status, "cancelled");
  assert.equal(c1.attempts, 0);
  const c2 = await t.queue.cancel(busy.id, "test");
  assert.equal(c2.status, "cancelled");
  assert.equal(sawAbort, true);
  assert.equal(c2.error?.code, "cancelled");
  const events = t.queue.store.entries(busy.id).map((e) => e.event);
  assert.deepEqual(events, [
    "submitted",
    "admitted",
    "attempt_started",
    "attempt_ended",
    "cancelled",
  ]);
});

Deno.test("a transient failure is retried once and journaled; a second failure fails the job, never a third try", async () => {
  let tries = 0;
  await using t = setup([{
    name: "flaky",
    handler: () => {
      tries++;
      throw fakeFailure("transient", "worker died");
    },
  }]);
  const job = await t.queue.submit({ capability: "flaky", method: "x" });
  const done = await t.queue.wait(job.id, 5_000);
  assert.equal(done.status, "failed");
  assert.equal(done.attempts, 2);
  assert.equal(tries, 2);
  assert.equal(done.error?.category, "transient");
  const journal = t.queue.store.entries(job.id);
  assert.deepEqual(journal.map((e) => `${e.event}:${e.attempt}`), [
    "submitted:0",
    "admitted:1",
    "attempt_started:1",
    "attempt_ended:1",
    "retry:1",
    "admitted:2",
    "attempt_started:2",
    "attempt_ended:2",
    "finished:2",
  ]);
  assert.equal(journal[4].data.category, "transient");
});

Deno.test("a transient failure then a success succeeds on the retry; user_input and fatal are never retried", async () => {
  let calls = 0;
  await using t = setup([
    {
      name: "once",
      handler: () => {
        if (++calls === 1) throw fakeFailure("resource", "out of memory");
        return "ok";
      },
    },
    { name: "bad", handler: () => Promise.reject(fakeFailure("user_input", "no such file")) },
    { name: "broken", handler: () => Promise.reject(fakeFailure("fatal", "import failed")) },
  ]);
  const once = await t.queue.wait(
    (await t.queue.submit({ capability: "once", method: "x" })).id,
    5_000,
  );
  assert.equal(once.status, "succeeded");
  assert.equal(once.result, "ok");
  assert.equal(once.attempts, 2);
  assert.ok(
    t.runtime.log.some((l) => /^stop once-\d+ a resource error/.test(l)),
    "fresh worker for the retry",
  );
  for (const name of ["bad", "broken"]) {
    const done = await t.queue.wait(
      (await t.queue.submit({ capability: name, method: "x" })).id,
      5_000,
    );
    assert.equal(done.status, "failed");
    assert.equal(done.attempts, 1);
  }
});

Deno.test("after a restart queued jobs run again in order; a job that was running is failed, not run twice", async () => {
  const dir = await Deno.makeTempDir({ prefix: "roam-jobs-" });
  const path = join(dir, "roam.db");
  try {
    const hold = gate();
    const ids: string[] = [];
    {
      // A crash: the queue is never closed, so the running job's row stays 'running'.
      const db = openStore({ path });
      const runtime = new FakeRuntime([{ name: "echo", handler: () => hold.promise }]);
      const queue = new JobQueue({
        db,
        runtime,
        probe: new FakeProbe(),
        limits: { idleMs: 3_600_000 },
      });
      queue.start();
      ids.push((await queue.submit({ capability: "echo", method: "x", args: 1, priority: 1 })).id);
      await within(
        5_000,
        "started",
        (async () => {
          while (queue.view(ids[0])!.status !== "running") {
            await new Promise((r) => setTimeout(r, 5));
          }
        })(),
      );
      for (const p of [5, 9]) {
        ids.push(
          (await queue.submit({ capability: "echo", method: "x", args: p, priority: p })).id,
        );
      }
      db.close();
      await queue.close().catch(() => {});
      hold.open();
    }
    const order: unknown[] = [];
    const db = openStore({ path });
    const runtime = new FakeRuntime([{ name: "echo", handler: (c) => order.push(c.args) }]);
    const queue = new JobQueue({
      db,
      runtime,
      probe: new FakeProbe(),
      limits: { idleMs: 3_600_000 },
    });
    try {
      const recovered = queue.start();
      assert.deepEqual(recovered, { requeued: 2, interrupted: 1 });
      const crashed = queue.view(ids[0])!;
      assert.equal(crashed.status, "failed");
      assert.match(crashed.error!.message, /interrupted: the host stopped.*submit it again/);
      for (const id of ids.slice(1)) {
        assert.equal((await queue.wait(id, 5_000)).status, "succeeded");
      }
      assert.deepEqual(order, [9, 5]);
      assert.ok(queue.store.entries(ids[0]).some((e) => e.event === "recovered"));
    } finally {
      await queue.close();
      db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("finished jobs beyond retainFinished are pruned with their journal; queued and running ones never", async () => {
  const hold = gate();
  await using t = setup([{
    name: "echo",
    concurrency: 2,
    handler: (c) => c.method === "slow" ? hold.promise : null,
  }], {
    retainFinished: 10,
  });
  const slow = await t.queue.submit({ capability: "echo", method: "slow" });
  for (let i = 0; i < 249; i++) {
    const job = await t.queue.submit({ capability: "echo", method: "fast" });
    assert.equal(
      (await within(5_000, "fast job", t.queue.wait(job.id, 5_000))).status,
      "succeeded",
    );
  }
  const count = (sql: string) => (t.db.prepare(sql).get() as { n: number }).n;
  const finished = count("SELECT COUNT(*) AS n FROM capability_jobs WHERE status = 'succeeded'");
  assert.ok(finished <= 10 + 100, `${finished} finished jobs kept`);
  assert.equal(t.queue.view(slow.id)?.status, "running");
  assert.equal(
    count(
      "SELECT COUNT(*) AS n FROM capability_job_journal WHERE job_id NOT IN (SELECT id FROM capability_jobs)",
    ),
    0,
  );
  hold.open();
});
