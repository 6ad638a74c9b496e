/**
 * The job queue on a real GPU: nvidia-smi's reading parses, torch-matmul
 * runs through the queue, and the VRAM peak of its worker is learned and
 * kept per (capability, config). It runs where nvidia-smi answers and
 * `python3` imports torch with CUDA; elsewhere it says why it is skipped.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { runNvidiaSmi, systemProbe } from "../src/capabilities/resources.ts";
import { hostWithClient } from "./support/agents.ts";
import { gpuCheck } from "./support/gpu.ts";

const PLUGIN = new URL("../plugins/torch-matmul", import.meta.url).pathname;

const { torch: hasTorch } = gpuCheck("the job queue on a GPU");

Deno.test({
  name:
    "on a GPU: nvidia-smi parses, torch-matmul runs through the queue, and its VRAM peak is learned",
  ignore: !hasTorch,
  fn: async () => {
    const raw = await runNvidiaSmi(AbortSignal.timeout(10_000));
    console.log(`nvidia-smi: ${JSON.stringify(raw)}`);
    const system = await systemProbe().read();
    console.log(`probe: ${JSON.stringify(system)}`);
    assert.ok(system.gpus.length >= 1);
    assert.ok(system.gpus[0].totalMb > 1_000);

    await using h = await hostWithClient({ capabilities: { timings: { stopGraceMs: 1_000 } } });
    await h.mesh.capability.add({ dir: PLUGIN });
    const job = await h.mesh.job.submit({
      capability: "torch-matmul",
      method: "matmul",
      args: { n: 4096, repeats: 3 },
    });
    const done = await h.mesh.job.wait({ id: job.id, timeoutMs: 300_000 }, {
      timeoutMs: 330_000,
    });
    console.log(`job: ${JSON.stringify(done)}`);
    assert.equal(done.status, "succeeded", JSON.stringify(done.error));
    const db = new DatabaseSync(join(h.t.dataDir, "roam.db"), { readOnly: true });
    try {
      const row = db.prepare(
        "SELECT peak_ram_mb, peak_vram_mb FROM capability_profiles WHERE capability = 'torch-matmul'",
      ).get() as { peak_ram_mb: number; peak_vram_mb: number };
      console.log(`learned: ${JSON.stringify(row)}`);
      assert.ok(row.peak_vram_mb > 0, "the worker's VRAM peak was learned");
    } finally {
      db.close();
    }
    // A second call reuses the resident instance (its own VRAM is not counted against it).
    const again = await h.mesh.capability.call({
      capability: "torch-matmul",
      method: "matmul",
      args: { n: 1024, repeats: 1 },
    }, { timeoutMs: 120_000 });
    assert.ok(again.result);
  },
});
