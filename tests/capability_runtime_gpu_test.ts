/**
 * torch-matmul on a real GPU: the worker reports the GPU PyTorch sees and
 * times a matrix product, and the runtime measures the VRAM its process
 * group holds. It runs where nvidia-smi answers and `python3` imports torch;
 * elsewhere it says why it is skipped. Without a GPU, torch-matmul's
 * initialize fails with a clear resource (no CUDA GPU) or fatal (no
 * PyTorch) error, checked by the second test wherever a GPU is absent.
 */
import assert from "node:assert/strict";
import { CapabilityHost } from "../src/capabilities/mod.ts";
import { RoamError } from "../src/errors/mod.ts";
import { gpuCheck } from "./support/gpu.ts";

const PLUGIN = new URL("../plugins/torch-matmul", import.meta.url).pathname;

const { torch: hasTorch } = gpuCheck("torch-matmul on a GPU");

Deno.test({
  name: "torch-matmul reports the GPU and times an NxN product; VRAM is measured over its group",
  ignore: !hasTorch,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "roam-caps-gpu-" });
    const runtime = new CapabilityHost({ dataDir });
    try {
      await runtime.add(PLUGIN);
      const instance = await runtime.instance("torch-matmul", {});
      const gpu = await instance.execute("gpu", {}) as { name: string; totalMemoryMb: number };
      console.log(`gpu: ${JSON.stringify(gpu)}`);
      assert.ok(gpu.name.length > 0 && gpu.totalMemoryMb > 0);
      const progress: number[] = [];
      const result = await instance.execute("matmul", { n: 4096, repeats: 5 }, {
        onProgress: (p) => progress.push(p.fraction ?? 0),
      }) as { bestMs: number; tflops: number; gpu: string };
      console.log(`matmul 4096: ${JSON.stringify(result)}`);
      assert.equal(result.gpu, gpu.name);
      assert.ok(result.bestMs > 0 && result.tflops > 0);
      assert.equal(progress.at(-1), 1);
      const use = await new Promise<Awaited<ReturnType<typeof instance.measure>>>((resolve) =>
        setTimeout(() => resolve(instance.measure()), 1_100)
      );
      console.log(`measured: ${JSON.stringify(use)}`);
      assert.ok(use.vramMb > 0, "nvidia-smi shows the worker's VRAM");
    } finally {
      await runtime.close();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "torch-matmul without a GPU fails to start with a clear resource or fatal error",
  ignore: hasTorch,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "roam-caps-gpu-" });
    const runtime = new CapabilityHost({ dataDir });
    try {
      await runtime.add(PLUGIN);
      const error = await runtime.instance("torch-matmul", {}).then(
        () => assert.fail("torch-matmul started without a GPU"),
        (e) => e,
      );
      assert.ok(error instanceof RoamError);
      assert.ok(["resource", "fatal"].includes(error.data.category as string), error.message);
      assert.match(error.message, /PyTorch is not installed|sees no CUDA GPU/);
    } finally {
      await runtime.close();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
