import assert from "node:assert/strict";
import {
  type AdmissionView,
  decide,
  ledger,
  type Need,
  type Pool,
  type Resident,
} from "./admission.ts";

const gpu = (index: number, totalMb: number, usedMb = 0): Pool => ({
  key: `gpu${index}`,
  label: `VRAM on GPU ${index}`,
  totalMb,
  usedMb,
  reserveMb: 0,
});
const ram: Pool = { key: "ram", label: "RAM", totalMb: 0, usedMb: 0, reserveMb: 0 };

function need(over: Partial<Need> = {}): Need {
  return {
    capability: "model",
    configKey: "{}",
    ramMb: 0,
    vramMb: 4_000,
    gpu: true,
    concurrency: 1,
    maxInstances: 1,
    ...over,
  };
}

function resident(over: Partial<Resident> = {}): Resident {
  return {
    id: "r1",
    label: "r1",
    capability: "model",
    configKey: "{}",
    gpu: "gpu0",
    active: 0,
    concurrency: 1,
    lastUsedAt: 0,
    ramMb: 0,
    vramMb: 4_000,
    peakRamMb: 0,
    peakVramMb: 4_000,
    starting: false,
    evicting: false,
    ...over,
  };
}

Deno.test("a job's own idle instance is credited: reusing it adds only the growth to its peak", () => {
  // 10 GB card, 8 GB used by others outside roam, 4 GB by the job's own idle model (its peak).
  const view: AdmissionView = { pools: [ram, gpu(0, 16_000, 12_000)], residents: [resident()] };
  assert.equal(ledger(view, view.pools[1]).outside, 8_000);
  const d = decide(need(), view);
  assert.equal(d.kind, "admit");
  assert.deepEqual(d.kind === "admit" && [d.reuse, d.adds], ["r1", { gpu0: 0 }]);
});

Deno.test("a new instance goes to the GPU with the most room; a job too big for every GPU never fits", () => {
  const view: AdmissionView = {
    pools: [ram, gpu(0, 24_000, 20_000), gpu(1, 24_000, 2_000)],
    residents: [],
  };
  const d = decide(need({ capability: "other" }), view);
  assert.equal(d.kind === "admit" && d.gpu, "gpu1");
  const never = decide(need({ vramMb: 30_000 }), view);
  assert.equal(never.kind, "never");
  assert.match(never.kind === "never" ? never.reason : "", /largest GPU here offers 24000 MB/);
  const cpu = decide(need({ gpu: false, vramMb: 0 }), { pools: [ram], residents: [] });
  assert.equal(cpu.kind, "admit");
});

Deno.test("eviction picks idle instances least recently used first, never busy ones, and only when it is enough", () => {
  const residents = [
    resident({ id: "old", label: "old", capability: "a", lastUsedAt: 1, vramMb: 3_000 }),
    resident({ id: "new", label: "new", capability: "b", lastUsedAt: 5, vramMb: 3_000 }),
    resident({
      id: "busy",
      label: "busy",
      capability: "c",
      active: 1,
      vramMb: 3_000,
      peakVramMb: 3_000,
    }),
  ];
  const view: AdmissionView = { pools: [ram, gpu(0, 12_000, 9_000)], residents };
  const one = decide(need({ capability: "x", vramMb: 5_000 }), view);
  assert.deepEqual(one.kind === "evict" && one.victims, ["old"]);
  const d = decide(need({ capability: "x", vramMb: 6_500 }), view);
  assert.equal(d.kind, "evict");
  assert.deepEqual(d.kind === "evict" && d.victims, ["old", "new"]);
  const tooBig = decide(need({ capability: "x", vramMb: 10_000 }), view);
  assert.equal(tooBig.kind, "wait");
  assert.match(
    tooBig.kind === "wait" ? tooBig.reason : "",
    /^waiting for 10000 MB VRAM on GPU 0: 3000 MB free, 3000 held by old \(idle\), 3000 held by new \(idle\), 3000 held by busy \(running 1 call\)$/,
  );
});

Deno.test("an instance being evicted or starting still counts until it is gone", () => {
  const view: AdmissionView = {
    pools: [ram, gpu(0, 10_000, 3_000)],
    residents: [
      resident({ id: "going", evicting: true, vramMb: 3_000 }),
      resident({ id: "coming", capability: "b", starting: true, vramMb: 0, peakVramMb: 5_000 }),
    ],
  };
  assert.equal(ledger(view, view.pools[1]).committed, 8_000);
  assert.equal(decide(need({ capability: "x", vramMb: 3_000 }), view).kind, "wait");
});
