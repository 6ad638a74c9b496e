/**
 * Admission by VRAM on a fake runtime and a fake GPU: the queue never
 * commits more than a budget, evicts idle instances least recently used
 * first to make room, counts VRAM held outside roam, and says why a job waits.
 */
import assert from "node:assert/strict";
import { commitment, ledger } from "../src/capabilities/admission.ts";
import { JobQueue } from "../src/capabilities/queue.ts";
import {
  type FakeCapability,
  FakeProbe,
  FakeRuntime,
  gate,
} from "../src/capabilities/queue_fake.ts";
import { isRoamError, RoamError } from "../src/errors/mod.ts";
import { openStore } from "../src/store/mod.ts";
import { within } from "./support/wait.ts";

const GPU_TOTAL = 24_000;
const RESERVE = 256;
const RAM_TOTAL = 24_000;

/** A queue whose fake GPU's use is what outside processes hold plus what live fake instances hold. */
function gpuSetup(
  capabilities: FakeCapability[],
  outsideMb = () => 0,
  maxInstances = 1,
  ramTotalMb = 0,
) {
  const db = openStore({ path: ":memory:" });
  const runtime = new FakeRuntime(capabilities);
  const held = new Map(
    capabilities.map((c) => [c.name, c.peak?.vramMb ?? c.resources?.vramMb ?? 0]),
  );
  const heldRam = new Map(
    capabilities.map((c) => [c.name, c.peak?.ramMb ?? c.resources?.ramMb ?? 0]),
  );
  const probe = new FakeProbe();
  probe.compute = () => ({
    ramTotalMb,
    ramAvailableMb: ramTotalMb -
      runtime.instances().reduce((sum, i) => sum + (heldRam.get(i.capability) ?? 0), 0),
    gpus: [{
      index: 0,
      name: "Fake GPU",
      totalMb: GPU_TOTAL,
      usedMb: outsideMb() +
        runtime.instances().reduce((sum, i) => sum + (held.get(i.capability) ?? 0), 0),
    }],
  });
  const queue = new JobQueue({
    db,
    runtime,
    probe,
    limits: {
      idleMs: 3_600_000,
      reserveVramMb: RESERVE,
      maxInstances,
      pollMs: 20,
      maxQueued: 10_000,
    },
  });
  queue.start();
  return {
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

/** A small deterministic random generator (mulberry32). */
function random(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("many random jobs with random VRAM and RAM peaks: at every admission the committed memory stays within each budget", async () => {
  for (const seed of [1, 2, 3]) {
    const rand = random(seed);
    const caps: FakeCapability[] = [];
    for (let i = 0; i < 12; i++) {
      const declared = 500 + Math.floor(rand() * 9_000);
      // Learned peaks differ from declared ones: sometimes more, sometimes less.
      const peak = Math.max(100, Math.round(declared * (0.5 + rand())));
      const declaredRam = 200 + Math.floor(rand() * 6_000);
      const peakRam = Math.max(50, Math.round(declaredRam * (0.5 + rand())));
      caps.push({
        name: `model${i}`,
        concurrency: 1 + Math.floor(rand() * 3),
        resources: { gpu: true, vramMb: declared, ramMb: declaredRam },
        peak: {
          vramMb: Math.min(peak, GPU_TOTAL - RESERVE - 2_000),
          ramMb: Math.min(peakRam, RAM_TOTAL - 512),
        },
        handler: () => new Promise((r) => setTimeout(r, Math.floor(rand() * 4))),
      });
    }
    const outside = 1_000 + Math.floor(rand() * 1_000);
    await using t = gpuSetup(caps, () => outside, 2, RAM_TOTAL);
    let admissions = 0, reserving = 0;
    const failures: string[] = [];
    t.queue.onAdmit = (view, adds) => {
      admissions++;
      try {
        check(view, "gpu0", adds.gpu0 ?? 0);
        check(view, "ram", adds.ram ?? 0);
      } catch (error) {
        failures.push((error as Error).message);
      }
    };
    const check = (
      view: Parameters<NonNullable<typeof t.queue.onAdmit>>[0],
      key: string,
      added: number,
    ) => {
      const pool = view.pools.find((p) => p.key === key)!;
      const { budget, committed } = ledger(view, pool);
      const reserved = view.residents.reduce((s, r) => s + commitment(r, key), 0);
      assert.equal(reserved, committed);
      // An admission that reserves VRAM keeps every reservation within the budget. (One that
      // reserves nothing, a call on a busy instance's free slot, may come while an instance
      // that used more than it declared holds the ledger over: it adds nothing to it.)
      if (added > 0) {
        assert.ok(
          committed <= budget,
          `seed ${seed}: ${committed} MB of ${key} committed over a budget of ${budget} MB`,
        );
        reserving++;
      }
      if (key === "gpu0") assert.ok(budget <= GPU_TOTAL - RESERVE - outside);
      else assert.ok(budget <= RAM_TOTAL - 512);
    };
    const jobs = [];
    for (let i = 0; i < 300; i++) {
      const cap = caps[Math.floor(rand() * caps.length)].name;
      jobs.push(
        await t.queue.submit({
          capability: cap,
          method: "run",
          priority: Math.floor(rand() * 10),
        }),
      );
    }
    for (const j of jobs) {
      const done = await within(20_000, `job ${j.id}`, t.queue.wait(j.id, 20_000));
      assert.deepEqual(failures, []);
      assert.equal(done.status, "succeeded", JSON.stringify(done.error));
    }
    assert.ok(admissions >= 300);
    assert.ok(reserving >= 20, `only ${reserving} admissions reserved memory`);
    assert.ok(t.runtime.log.some((l) => l.includes("evicted")), "some evictions happened");
  }
});

Deno.test("idle instances are evicted least recently used first to make room, and the waiting job says so", async () => {
  const hold = gate();
  const caps: FakeCapability[] = ["a", "b", "c"].map((name) => ({
    name,
    resources: { gpu: true, vramMb: 7_000 },
  }));
  caps.push({ name: "big", resources: { gpu: true, vramMb: 12_000 }, handler: () => hold.promise });
  await using t = gpuSetup(caps);
  // a, b, c each run once and stay resident: 21 000 MB held of a 23 744 MB budget.
  for (const name of ["a", "b", "c"]) {
    await t.queue.wait((await t.queue.submit({ capability: name, method: "x" })).id, 5_000);
    await new Promise((r) => setTimeout(r, 2)); // distinct lastUsedAt
  }
  assert.equal(t.runtime.instances().length, 3);
  // Touch a again so that b is the least recently used.
  await t.queue.wait((await t.queue.submit({ capability: "a", method: "x" })).id, 5_000);
  const big = await t.queue.submit({ capability: "big", method: "x" });
  await within(
    5_000,
    "big running",
    (async () => {
      while (t.queue.view(big.id)!.status !== "running") await new Promise((r) => setTimeout(r, 5));
    })(),
  );
  const stopped = t.runtime.log.filter((l) => l.startsWith("stop"));
  assert.equal(stopped.length, 2);
  assert.match(stopped[0], /^stop b-\d+ evicted to make room/);
  assert.match(stopped[1], /^stop c-\d+ evicted/);
  assert.deepEqual(t.runtime.instances().map((i) => i.capability).sort(), ["a", "big"]);
  const journal = t.queue.store.entries(big.id);
  assert.ok(journal.some((e) => e.event === "admitted"));
  hold.open();
  assert.equal((await t.queue.wait(big.id, 5_000)).status, "succeeded");
});

Deno.test("a waiting job gives its position and the reason, naming who holds the VRAM and what is held outside roam", async () => {
  const hold = gate();
  let outside = 5_000;
  await using t = gpuSetup([
    { name: "busy", resources: { gpu: true, vramMb: 15_000 }, handler: () => hold.promise },
    { name: "idle", resources: { gpu: true, vramMb: 3_000 } },
    { name: "big", resources: { gpu: true, vramMb: 6_000 } },
  ], () => outside);
  await t.queue.wait((await t.queue.submit({ capability: "idle", method: "x" })).id, 5_000);
  const busy = await t.queue.submit({ capability: "busy", method: "x" });
  await within(
    5_000,
    "busy running",
    (async () => {
      while (t.queue.view(busy.id)!.status !== "running") {
        await new Promise((r) => setTimeout(r, 5));
      }
    })(),
  );
  const big = await t.queue.submit({ capability: "big", method: "x" });
  await within(
    5_000,
    "a reason",
    (async () => {
      while (!t.queue.view(big.id)!.reason?.includes("MB")) {
        await new Promise((r) => setTimeout(r, 5));
      }
    })(),
  );
  const view = t.queue.view(big.id)!;
  assert.equal(view.position, 1);
  // 24 000 total - 256 reserve - 5 000 outside - 15 000 busy - 3 000 idle = 744 free; evicting idle is not enough.
  assert.equal(
    view.reason,
    "waiting for 6000 MB VRAM on GPU 0: 744 MB free, 15000 held by busy-" +
      t.runtime.instances().find((i) => i.capability === "busy")!.id.split("-")[1] +
      " (running 1 call), 3000 held by idle-" +
      t.runtime.instances().find((i) => i.capability === "idle")!.id.split("-")[1] +
      " (idle), 5000 held outside roam, 256 kept in reserve",
  );
  // Once the outside process lets go of 3 000 MB, evicting the idle instance makes room.
  outside = 2_000;
  await within(
    5_000,
    "big done",
    t.queue.wait(big.id, 5_000).then(async (v) => {
      while ((v = t.queue.view(big.id)!).status !== "succeeded") {
        await new Promise((r) => setTimeout(r, 5));
      }
      return v;
    }),
  );
  assert.ok(t.runtime.log.some((l) => /^stop idle-\d+ evicted/.test(l)));
  hold.open();
  await t.queue.wait(busy.id, 5_000);
});

Deno.test("a job that can never fit (more VRAM than the GPU, or no GPU) is refused at once", async () => {
  await using t = gpuSetup([{ name: "huge", resources: { gpu: true, vramMb: 30_000 } }]);
  await assert.rejects(
    t.queue.submit({ capability: "huge", method: "x" }),
    (e) =>
      isRoamError(e, "quota_exceeded") &&
      /needs 30000 MB VRAM and the largest GPU here offers 23744 MB/.test(e.message),
  );
  t.probe.compute = undefined;
  await assert.rejects(
    t.queue.submit({ capability: "huge", method: "x" }),
    (e) => isRoamError(e, "quota_exceeded") && /needs a GPU and this host has none/.test(e.message),
  );
});

Deno.test("a measured peak replaces the declared one: a job that declared too much runs beside others once measured", async () => {
  await using t = gpuSetup(
    [
      {
        name: "light",
        resources: { gpu: true, vramMb: 20_000 },
        peak: { vramMb: 2_000 },
        concurrency: 1,
      },
    ],
    () => 0,
    4,
  );
  const first = await t.queue.submit({ capability: "light", method: "x" });
  await t.queue.wait(first.id, 5_000);
  const profile = t.queue.store.profile("light", "{}");
  assert.deepEqual(profile, { peakRamMb: 0, peakVramMb: 2_000, samples: 1 });
});

Deno.test("on two GPUs, two models that cannot share a card run at once, one on each, and the runtime is told which", async () => {
  const hold = gate();
  const db = openStore({ path: ":memory:" });
  const runtime = new FakeRuntime(["a", "b"].map((name) => ({
    name,
    resources: { gpu: true, vramMb: 10_000 },
    handler: () => hold.promise,
  })));
  const probe = new FakeProbe();
  probe.compute = () => ({
    ramTotalMb: 0,
    ramAvailableMb: 0,
    gpus: [0, 1].map((index) => ({ index, name: "Fake GPU", totalMb: 16_000, usedMb: 0 })),
  });
  const queue = new JobQueue({ db, runtime, probe, limits: { idleMs: 3_600_000 } });
  queue.start();
  try {
    const jobs = [
      await queue.submit({ capability: "a", method: "x" }),
      await queue.submit({ capability: "b", method: "x" }),
    ];
    await within(
      5_000,
      "both running",
      (async () => {
        while (jobs.some((j) => queue.view(j.id)!.status !== "running")) {
          await new Promise((r) => setTimeout(r, 5));
        }
      })(),
    );
    assert.deepEqual([...runtime.gpusAsked].sort(), [0, 1]);
    hold.open();
    for (const j of jobs) assert.equal((await queue.wait(j.id, 5_000)).status, "succeeded");
  } finally {
    await queue.close();
    await runtime.close();
    db.close();
  }
});

Deno.test("after an out-of-memory failure that names its shortfall, the retry reserves what the worker said it needed", async () => {
  let calls = 0;
  const oom = new RoamError("quota_exceeded", "CUDA out of memory", {
    category: "resource",
    shortfall: { resource: "gpu_vram_mb", needed: 9_000, available: 3_000 },
  });
  await using t = gpuSetup([{
    name: "under",
    resources: { gpu: true, vramMb: 2_000 },
    handler: () => {
      if (++calls === 1) throw oom;
      return "ok";
    },
  }]);
  const reserved: number[] = [];
  t.queue.onAdmit = (_view, adds) => reserved.push(adds.gpu0 ?? 0);
  const done = await t.queue.wait(
    (await t.queue.submit({ capability: "under", method: "x" })).id,
    5_000,
  );
  assert.equal(done.status, "succeeded");
  assert.deepEqual(reserved, [2_000, 9_000]);
  const retry = t.queue.store.entries(done.id).find((e) => e.event === "retry")!;
  assert.deepEqual(retry.data.reserveMb, { ramMb: 0, vramMb: 9_000 });
});
