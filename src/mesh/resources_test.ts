import assert from "node:assert/strict";
import { parseNvidiaSmi, ResourceMonitor } from "./resources.ts";

Deno.test("nvidia-smi CSV lines become GPUs; anything else is skipped", () => {
  const text = [
    "NVIDIA H100 80GB HBM3, 81559, 80532",
    "NVIDIA GeForce RTX 4090, 24564, 1200",
    "",
    "garbage",
    "Odd, Name, With Commas, 100, 50",
    "Broken, N/A, N/A",
    "Empty, , ",
  ].join("\n");
  assert.deepEqual(parseNvidiaSmi(text), [
    { name: "NVIDIA H100 80GB HBM3", memoryTotalMb: 81559, memoryFreeMb: 80532 },
    { name: "NVIDIA GeForce RTX 4090", memoryTotalMb: 24564, memoryFreeMb: 1200 },
    { name: "Odd, Name, With Commas", memoryTotalMb: 100, memoryFreeMb: 50 },
  ]);
  assert.deepEqual(parseNvidiaSmi(""), []);
});

Deno.test("figures are read at once; GPUs come from the background query and a change is reported", async () => {
  let changes = 0;
  let answer: string | null = null;
  let release!: () => void;
  const monitor = new ResourceMonitor({
    query: async () => {
      await new Promise<void>((resolve) => release = resolve);
      return answer;
    },
    onGpusChanged: () => changes++,
  });
  monitor.start();
  // The query has not answered: figures do not wait for it.
  const first = monitor.metrics();
  assert.deepEqual(first.gpus, []);
  assert.equal(first.load.length, 3);
  assert.ok(first.totalRamMb > 0 && first.freeRamMb <= first.totalRamMb);
  answer = "Test GPU, 1000, 900";
  release();
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(monitor.metrics().gpus, [
    { name: "Test GPU", memoryTotalMb: 1000, memoryFreeMb: 900 },
  ]);
  assert.equal(changes, 1);
  await monitor.stop();
});

Deno.test("a missing nvidia-smi means no GPUs", async () => {
  const monitor = new ResourceMonitor({ query: () => Promise.resolve(null) });
  monitor.start();
  await monitor.stop();
  assert.deepEqual(monitor.metrics().gpus, []);
});
