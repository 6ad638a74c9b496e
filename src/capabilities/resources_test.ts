import assert from "node:assert/strict";
import { parseGpuQuery, parseMeminfo, systemProbe } from "./resources.ts";

// Recorded from real machines and from nvidia-smi's failure modes.
const H100 = "0, NVIDIA H100 80GB HBM3, 81559, 4\n";
/** Recorded on the project's H100 machine, 2026-11-22, idle, with the queue's exact query. */
const H100_IDLE = "0, NVIDIA H100 80GB HBM3, 81559, 0\n";
const TWO_GPUS =
  "0, NVIDIA GeForce RTX 3090, 24576, 1203\r\n1, NVIDIA GeForce RTX 3090, 24576, 22011\r\n";
const DRIVER_DOWN =
  "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n";
const NO_DEVICES = "No devices were found\n";
const NOT_SUPPORTED = "0, NVIDIA A100-SXM4-40GB MIG 3g.20gb, [N/A], [N/A]\n1, Tesla T4, 15360, 0\n";
const COMMA_NAME = "0, Weird, Name, With Commas, 8192, 100\n";

Deno.test("nvidia-smi output parses into GPUs; errors, N/A fields and junk are skipped", () => {
  assert.deepEqual(parseGpuQuery(H100), [
    { index: 0, name: "NVIDIA H100 80GB HBM3", totalMb: 81559, usedMb: 4 },
  ]);
  assert.deepEqual(parseGpuQuery(TWO_GPUS).map((g) => [g.index, g.usedMb]), [[0, 1203], [
    1,
    22011,
  ]]);
  assert.deepEqual(parseGpuQuery(H100_IDLE), [
    { index: 0, name: "NVIDIA H100 80GB HBM3", totalMb: 81559, usedMb: 0 },
  ]);
  assert.deepEqual(parseGpuQuery(DRIVER_DOWN), []);
  assert.deepEqual(parseGpuQuery(NO_DEVICES), []);
  assert.deepEqual(parseGpuQuery(""), []);
  assert.deepEqual(parseGpuQuery(NOT_SUPPORTED), [
    { index: 1, name: "Tesla T4", totalMb: 15360, usedMb: 0 },
  ]);
  assert.deepEqual(parseGpuQuery(COMMA_NAME)[0].name, "Weird, Name, With Commas");
  assert.equal(parseGpuQuery("x, y, 1, 2\n-1, bad, 3, 4\n0, ok, 1.5, 0.4\n").length, 1);
  assert.equal(parseGpuQuery(H100.repeat(100)).length, 64);
});

Deno.test("/proc/meminfo gives total and available RAM in MB", () => {
  const text =
    "MemTotal:       16318480 kB\nMemFree:         1013572 kB\nMemAvailable:    9123456 kB\nBuffers:  100 kB\n";
  assert.deepEqual(parseMeminfo(text), { totalMb: 15936, availableMb: 8909 });
  const old = "MemTotal: 2048000 kB\nMemFree: 1024000 kB\nBuffers: 102400 kB\nCached: 204800 kB\n";
  assert.deepEqual(parseMeminfo(old), { totalMb: 2000, availableMb: 1300 });
  assert.throws(() => parseMeminfo("nothing"), /MemTotal/);
});

Deno.test("the system probe caches, keeps the last GPU reading when nvidia-smi fails, and stops asking once it is missing", async () => {
  let runs = 0;
  let answer: () => string | null = () => H100;
  const probe = systemProbe({
    cacheMs: 0,
    meminfo: () => Promise.resolve("MemTotal: 2048000 kB\nMemAvailable: 1024000 kB\n"),
    gpuQuery: () => {
      runs++;
      const text = answer();
      return Promise.resolve(text);
    },
  });
  await new Promise((r) => setTimeout(r, 2));
  assert.equal((await probe.read()).gpus.length, 1);
  answer = () => null;
  await new Promise((r) => setTimeout(r, 2));
  const kept = await probe.read();
  assert.equal(kept.gpus.length, 1, "a failed run keeps the last reading");
  assert.equal(kept.ramTotalMb, 2000);
  answer = () => {
    throw new Deno.errors.NotFound("nvidia-smi");
  };
  await new Promise((r) => setTimeout(r, 2));
  await probe.read();
  const before = runs;
  await new Promise((r) => setTimeout(r, 2));
  await probe.read();
  assert.equal(runs, before, "not run again once missing");
});

Deno.test("this machine's probe answers (no GPU here is fine)", async () => {
  const system = await systemProbe().read();
  assert.ok(system.ramTotalMb > 0);
  assert.ok(system.ramAvailableMb <= system.ramTotalMb);
  console.log(`GPUs seen: ${system.gpus.map((g) => `${g.index} ${g.name}`).join("; ") || "none"}`);
});
