import type { z } from "zod";
import type { GpuSchema } from "../api/mod.ts";

/** A GPU: its name, total and free memory in MB. */
export type Gpu = z.infer<typeof GpuSchema>;

/** This host's load figures at one moment. */
export interface Metrics {
  /** Load averages over 1, 5 and 15 minutes. */
  load: number[];
  /** Available RAM, MB. */
  freeRamMb: number;
  /** Total RAM, MB. */
  totalRamMb: number;
  /** Its GPUs, with free memory as of the last `nvidia-smi` run. */
  gpus: Gpu[];
}

/** Runs `nvidia-smi` and returns its standard output, or null when it is missing or fails. */
export type GpuQuery = (signal: AbortSignal) => Promise<string | null>;

/** The real query: `nvidia-smi --query-gpu=name,memory.total,memory.free --format=csv,noheader,nounits`. */
export const nvidiaSmi: GpuQuery = async (signal) => {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("nvidia-smi", {
      args: ["--query-gpu=name,memory.total,memory.free", "--format=csv,noheader,nounits"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      signal,
    }).spawn();
  } catch {
    return null; // not installed
  }
  const out = await child.output();
  return out.success ? new TextDecoder().decode(out.stdout) : null;
};

/**
 * Parse `nvidia-smi --query-gpu=name,memory.total,memory.free
 * --format=csv,noheader,nounits` output: one `name, total, free` line per
 * GPU, memory in MiB. Lines that do not parse are skipped.
 */
export function parseNvidiaSmi(text: string): Gpu[] {
  const gpus: Gpu[] = [];
  for (const line of text.split("\n")) {
    const parts = line.split(",");
    if (parts.length < 3) continue;
    const [total, free] = parts.slice(-2).map((p) => p.trim());
    const name = parts.slice(0, -2).join(",").trim().slice(0, 256);
    if (!name || !/^\d+(\.\d+)?$/.test(total) || !/^\d+(\.\d+)?$/.test(free)) continue;
    gpus.push({
      name,
      memoryTotalMb: Math.round(Number(total)),
      memoryFreeMb: Math.round(Number(free)),
    });
    if (gpus.length === 16) break;
  }
  return gpus;
}

/** Options for {@linkcode ResourceMonitor}. */
export interface ResourceMonitorOptions {
  /** How often GPUs are queried. Default 30 s. */
  gpuRefreshMs?: number;
  /** Longest one query may run. Default 10 s. */
  gpuTimeoutMs?: number;
  /** The GPU query; tests pass their own. */
  query?: GpuQuery;
  /** Called when the set of GPUs (not their free memory) changes. */
  onGpusChanged?: () => void;
}

/**
 * This host's load, RAM and GPUs. Load and RAM are read when asked (at most
 * once a second); GPUs come from a cached `nvidia-smi` run refreshed in the
 * background, so reading figures never waits for it.
 */
export class ResourceMonitor {
  readonly #refreshMs: number;
  readonly #timeoutMs: number;
  readonly #query: GpuQuery;
  readonly #onGpusChanged: () => void;
  #gpus: Gpu[] = [];
  #cached?: { at: number; metrics: Metrics };
  #timer?: ReturnType<typeof setTimeout>;
  #running?: Promise<void>;
  #abort?: AbortController;
  #stopped = false;

  /** A monitor; call {@linkcode ResourceMonitor.start} to begin querying GPUs. */
  constructor(options: ResourceMonitorOptions = {}) {
    this.#refreshMs = options.gpuRefreshMs ?? 30_000;
    this.#timeoutMs = options.gpuTimeoutMs ?? 10_000;
    this.#query = options.query ?? nvidiaSmi;
    this.#onGpusChanged = options.onGpusChanged ?? (() => {});
  }

  /** Query GPUs now and every refresh interval after. */
  start(): void {
    this.#refresh();
  }

  /** The figures now (load and RAM at most a second old, GPUs as last queried). */
  metrics(now = Date.now()): Metrics {
    if (this.#cached && now - this.#cached.at < 1_000) return this.#cached.metrics;
    let load = [0, 0, 0];
    let freeRamMb = 0;
    let totalRamMb = 0;
    try {
      load = Deno.loadavg().map((l) => Math.round(l * 100) / 100);
    } catch { /* not permitted or not supported: report zeros */ }
    try {
      const mem = Deno.systemMemoryInfo();
      freeRamMb = Math.floor((mem.available || mem.free) / 1048576);
      totalRamMb = Math.floor(mem.total / 1048576);
    } catch { /* as above */ }
    const metrics = { load, freeRamMb, totalRamMb, gpus: this.#gpus };
    this.#cached = { at: now, metrics };
    return metrics;
  }

  /** Stop querying; waits for a query in progress to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#abort?.abort();
    await this.#running;
  }

  #refresh() {
    if (this.#stopped) return;
    const abort = this.#abort = new AbortController();
    const timeout = setTimeout(() => abort.abort(), this.#timeoutMs);
    this.#running = this.#query(abort.signal).then(
      (text) => text === null ? [] : parseNvidiaSmi(text),
      () => [] as Gpu[],
    ).then((gpus) => {
      clearTimeout(timeout);
      const before = this.#gpus.map((g) => `${g.name}/${g.memoryTotalMb}`).join("|");
      const after = gpus.map((g) => `${g.name}/${g.memoryTotalMb}`).join("|");
      this.#gpus = gpus;
      this.#cached = undefined;
      if (before !== after) this.#onGpusChanged();
      if (!this.#stopped) this.#timer = setTimeout(() => this.#refresh(), this.#refreshMs);
    });
  }
}
