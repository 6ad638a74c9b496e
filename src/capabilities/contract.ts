/**
 * The seam between the capability runtime (manifests, environments, worker
 * processes, supervision) and the job queue (priorities, admission by
 * resources, journal, remote jobs). The runtime implements
 * {@linkcode CapabilityRuntime}; the queue only uses what is declared here.
 * Change it only by agreement of both sides.
 *
 * @module
 */

/** Where a capability error comes from, and so whether a retry can help. */
export type ErrorCategory = "user_input" | "transient" | "resource" | "fatal";

/** What a capability declares it needs, from its `plugin.json` `resources`. */
export interface DeclaredResources {
  /** RAM it expects to use, MB (a first guess until a peak is measured). */
  ramMb: number;
  /** VRAM it expects to use, MB; 0 for no GPU. */
  vramMb: number;
  /** Whether it needs a GPU at all. */
  gpu: boolean;
}

/** An installed capability, as the queue sees it. */
export interface CapabilityDescriptor {
  /** Plugin name, like `echo-py`. */
  name: string;
  /** Plugin version. */
  version: string;
  /** One line for people. */
  description: string;
  /** Environment kind: `conda`, `venv`, `system` or `deno`. */
  environment: string;
  /** What its manifest declares. */
  resources: DeclaredResources;
  /** Calls one instance runs at a time. */
  concurrency: number;
  /** Methods it offers (from the worker's info, when known). */
  methods: string[];
}

/** Progress or a partial result from a streaming call. */
export interface CallProgress {
  /** 0..1 when known. */
  fraction?: number;
  /** Words for people. */
  message?: string;
  /** A partial result, for streaming methods. */
  partial?: unknown;
}

/** Options for {@linkcode CapabilityInstance.execute}. */
export interface ExecuteOptions {
  /** Aborting cancels the call in the worker (its cancel endpoint). */
  signal?: AbortSignal;
  /** Called for each progress or partial result (streaming execute when given). */
  onProgress?: (progress: CallProgress) => void;
  /** Upper bound for the whole call, ms. */
  timeoutMs?: number;
}

/** What an instance has used, measured over its whole process group. */
export interface MeasuredUse {
  /** Resident memory now, MB. */
  ramMb: number;
  /** Highest resident memory seen, MB. */
  peakRamMb: number;
  /** GPU memory now, MB (0 without a GPU). */
  vramMb: number;
  /** Highest GPU memory seen, MB. */
  peakVramMb: number;
}

/** One running worker process of a capability with one config. */
export interface CapabilityInstance {
  /** Unique id of this instance. */
  readonly id: string;
  /** Capability name. */
  readonly capability: string;
  /** Stable hash of the config it was initialized with. */
  readonly configKey: string;
  /** Process id of the worker (leader of its process group). */
  readonly pid: number;
  /** Calls running on it now. */
  readonly active: number;
  /** When it last finished a call (ms since epoch). */
  readonly lastUsedAt: number;
  /**
   * Run `method` with `args`. Rejects with a RoamError whose `data.category`
   * is an {@linkcode ErrorCategory}; a worker that dies during the call
   * rejects with category `transient` (the runtime respawns it).
   */
  execute(method: string, args: unknown, options?: ExecuteOptions): Promise<unknown>;
  /** What it uses now and at most so far. */
  measure(): Promise<MeasuredUse>;
  /** Shutdown call, then SIGTERM, then SIGKILL of the whole group. Idempotent. */
  stop(reason: string): Promise<void>;
}

/** The capability runtime, as the queue uses it. */
export interface CapabilityRuntime {
  /** Installed capabilities. */
  list(): CapabilityDescriptor[];
  /** One installed capability, or undefined. */
  get(name: string): CapabilityDescriptor | undefined;
  /**
   * A ready instance for (capability, config): an idle resident one when
   * there is one, else a new one (environment prepared, process started,
   * initialized). Rejects with RoamError `not_found` for an unknown
   * capability, and a categorized error when it cannot start.
   */
  instance(
    name: string,
    config: unknown,
    options?: {
      signal?: AbortSignal;
      /**
       * The GPU index to give a new instance (its CUDA_VISIBLE_DEVICES); an
       * instance started for another GPU is not reused. Optional: left out,
       * any instance of (capability, config) serves.
       */
      gpu?: number;
    },
  ): Promise<CapabilityInstance>;
  /** Every running instance. */
  instances(): CapabilityInstance[];
  /** Stable hash of a config, the same as `CapabilityInstance.configKey`. */
  configKey(config: unknown): string;
  /** Stop every instance (host shutdown). */
  close(): Promise<void>;
}
