/**
 * What this machine has for the job queue to admit work against: RAM from
 * `/proc/meminfo` and each GPU's memory from `nvidia-smi`. A machine without
 * a GPU (or without `nvidia-smi`) simply has no GPUs.
 *
 * @module
 */

/** One GPU as `nvidia-smi` reports it, memory in MB (MiB). */
export interface GpuReading {
  /** `nvidia-smi`'s index of the device. */
  index: number;
  /** Its product name. */
  name: string;
  /** Its memory, MB. */
  totalMb: number;
  /** Memory in use by every process on it (roam's and others'), MB. */
  usedMb: number;
}

/** The machine's memory at one moment. */
export interface SystemResources {
  /** `MemTotal`, MB. */
  ramTotalMb: number;
  /** `MemAvailable`, MB (what can be had without swapping). */
  ramAvailableMb: number;
  /** Its GPUs; empty without one. */
  gpus: GpuReading[];
}

/** Reads the machine's memory; the queue asks before each admission pass. */
export interface ResourceProbe {
  /** The figures now (or cached for a short while). */
  read(): Promise<SystemResources>;
}

/** The `nvidia-smi` query the queue runs. */
export const NVIDIA_SMI_ARGS = [
  "--query-gpu=index,name,memory.total,memory.used",
  "--format=csv,noheader,nounits",
] as const;

const NUMBER = /^\d+(\.\d+)?$/;

/**
 * Parse `nvidia-smi --query-gpu=index,name,memory.total,memory.used
 * --format=csv,noheader,nounits`: one `index, name, total, used` line per GPU
 * (MiB). Anything else (driver errors, `No devices were found`, `[N/A]` or
 * `[Not Supported]` fields, blank lines) is skipped; at most 64 GPUs.
 *
 * @example
 * parseGpuQuery("0, NVIDIA H100 80GB HBM3, 81559, 1210\n");
 * // [{ index: 0, name: "NVIDIA H100 80GB HBM3", totalMb: 81559, usedMb: 1210 }]
 */
export function parseGpuQuery(text: string): GpuReading[] {
  const gpus: GpuReading[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const parts = raw.split(",").map((p) => p.trim());
    if (parts.length < 4) continue;
    const index = parts[0];
    const [total, used] = parts.slice(-2);
    const name = parts.slice(1, -2).join(", ").slice(0, 256);
    if (!/^\d+$/.test(index) || !NUMBER.test(total) || !NUMBER.test(used) || !name) continue;
    gpus.push({
      index: Number(index),
      name,
      totalMb: Math.round(Number(total)),
      usedMb: Math.round(Number(used)),
    });
    if (gpus.length === 64) break;
  }
  return gpus;
}

/**
 * Parse `/proc/meminfo` into total and available RAM in MB. Without a
 * `MemAvailable` line (very old kernels) free + buffers + cached stands in.
 * Throws when `MemTotal` is missing.
 */
export function parseMeminfo(text: string): { totalMb: number; availableMb: number } {
  const kb = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = /^(\w+(?:\(\w+\))?):\s+(\d+)\s*kB/.exec(line);
    if (match) kb.set(match[1], Number(match[2]));
  }
  const total = kb.get("MemTotal");
  if (total === undefined) throw new Error("/proc/meminfo has no MemTotal line");
  const available = kb.get("MemAvailable") ??
    (kb.get("MemFree") ?? 0) + (kb.get("Buffers") ?? 0) + (kb.get("Cached") ?? 0);
  return { totalMb: Math.floor(total / 1024), availableMb: Math.floor(available / 1024) };
}

/** Options for {@linkcode systemProbe}. */
export interface SystemProbeOptions {
  /** Runs `nvidia-smi` with {@linkcode NVIDIA_SMI_ARGS}: null when it fails, `NotFound` when missing. */
  gpuQuery?: (signal: AbortSignal) => Promise<string | null>;
  /** Reads `/proc/meminfo`. */
  meminfo?: () => Promise<string>;
  /** Reuse a reading this long, ms. Default 500. */
  cacheMs?: number;
  /** Longest one `nvidia-smi` run, ms. Default 5 000. */
  gpuTimeoutMs?: number;
}

/**
 * Run `nvidia-smi` with the queue's query: its output, or null when it fails.
 * Throws `Deno.errors.NotFound` when it is not installed.
 */
export async function runNvidiaSmi(signal: AbortSignal): Promise<string | null> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("nvidia-smi", {
      args: [...NVIDIA_SMI_ARGS],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      signal,
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw error;
    return null;
  }
  return out.success ? new TextDecoder().decode(out.stdout) : null;
}

/**
 * The real machine: `/proc/meminfo` and `nvidia-smi`, each reading cached for
 * `cacheMs`. Once `nvidia-smi` is found missing it is not run again; a failed
 * run keeps the last good GPU reading.
 */
export function systemProbe(options: SystemProbeOptions = {}): ResourceProbe {
  const gpuQuery = options.gpuQuery ?? runNvidiaSmi;
  const meminfo = options.meminfo ?? (() => Deno.readTextFile("/proc/meminfo"));
  const cacheMs = options.cacheMs ?? 500;
  const gpuTimeoutMs = options.gpuTimeoutMs ?? 5_000;
  let noGpuTool = false;
  let lastGpus: GpuReading[] = [];
  let cached: { at: number; value: Promise<SystemResources> } | undefined;
  const readNow = async (): Promise<SystemResources> => {
    let ram = { totalMb: 0, availableMb: 0 };
    try {
      ram = parseMeminfo(await meminfo());
    } catch {
      // Not Linux: RAM admission is off (0 of 0 means "unknown" to the queue).
    }
    if (!noGpuTool) {
      try {
        const text = await gpuQuery(AbortSignal.timeout(gpuTimeoutMs));
        if (text !== null) lastGpus = parseGpuQuery(text);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) noGpuTool = true;
      }
    }
    return { ramTotalMb: ram.totalMb, ramAvailableMb: ram.availableMb, gpus: lastGpus };
  };
  return {
    read() {
      const now = Date.now();
      if (!cached || now - cached.at > cacheMs) {
        cached = { at: now, value: readNow() };
        cached.value.catch(() => cached = undefined);
      }
      return cached.value;
    },
  };
}
