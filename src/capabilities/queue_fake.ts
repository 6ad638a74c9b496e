/**
 * A capability runtime for tests and benches of the job queue: deterministic
 * and steerable. Each capability declares its resources; each instance
 * "uses" the VRAM and RAM its script says, calls finish when the test says
 * (or at once), and failures are scripted per call.
 *
 * @module
 */
import { RoamError } from "../errors/mod.ts";
import type {
  CallProgress,
  CapabilityDescriptor,
  CapabilityInstance,
  CapabilityRuntime,
  DeclaredResources,
  ErrorCategory,
  ExecuteOptions,
  MeasuredUse,
} from "./contract.ts";
import type { ResourceProbe, SystemResources } from "./resources.ts";

/** What one fake capability does. */
export interface FakeCapability {
  name: string;
  resources?: Partial<DeclaredResources>;
  concurrency?: number;
  methods?: string[];
  /** What an instance really uses at its peak (what measure() reports after a call), MB. */
  peak?: { ramMb?: number; vramMb?: number };
  /**
   * Runs a call; default: return `{ method, args }` at once. Throw (a
   * RoamError with `data.category`) to fail.
   */
  handler?: (call: FakeCall) => unknown | Promise<unknown>;
}

/** A call as the fake's handler sees it. */
export interface FakeCall {
  method: string;
  args: unknown;
  instance: FakeInstance;
  signal?: AbortSignal;
  progress(p: CallProgress): void;
}

/** A fake error with a category, as the real runtime throws them. */
export function fakeFailure(category: ErrorCategory, message = `fake ${category} failure`) {
  const code = category === "user_input"
    ? "invalid_input"
    : category === "resource"
    ? "quota_exceeded"
    : category === "transient"
    ? "crashed"
    : "unavailable";
  return new RoamError(code, message, { category });
}

let nextId = 0;

/** A fake instance: counts its calls, reports scripted use. */
export class FakeInstance implements CapabilityInstance {
  readonly id: string;
  readonly pid = 0;
  active = 0;
  lastUsedAt = Date.now();
  stopped = false;
  calls = 0;
  stopReason: string | null = null;
  readonly #runtime: FakeRuntime;
  readonly #spec: FakeCapability;

  constructor(
    runtime: FakeRuntime,
    spec: FakeCapability,
    readonly capability: string,
    readonly configKey: string,
  ) {
    this.#runtime = runtime;
    this.#spec = spec;
    this.id = `${capability}-${++nextId}`;
  }

  async execute(method: string, args: unknown, options: ExecuteOptions = {}): Promise<unknown> {
    if (this.stopped) throw fakeFailure("transient", `${this.id} is stopped`);
    this.active++;
    this.calls++;
    this.#runtime.log.push(`execute ${this.id} ${method}`);
    try {
      options.signal?.throwIfAborted();
      const handler = this.#spec.handler ?? ((c: FakeCall) => ({ method: c.method, args: c.args }));
      const run = Promise.resolve(handler({
        method,
        args,
        instance: this,
        signal: options.signal,
        progress: (p) => options.onProgress?.(p),
      }));
      if (!options.signal) return await run;
      return await new Promise((resolve, reject) => {
        const onAbort = () =>
          reject(
            new RoamError("cancelled", "the call was cancelled", {
              category: "transient",
              cancelled: true,
            }),
          );
        if (options.signal!.aborted) return onAbort();
        options.signal!.addEventListener("abort", onAbort, { once: true });
        run.then(resolve, reject).finally(() =>
          options.signal!.removeEventListener("abort", onAbort)
        );
      });
    } finally {
      this.active--;
      this.lastUsedAt = Date.now();
    }
  }

  measure(): Promise<MeasuredUse> {
    const ramMb = this.#spec.peak?.ramMb ?? this.#spec.resources?.ramMb ?? 0;
    const vramMb = this.#spec.peak?.vramMb ?? this.#spec.resources?.vramMb ?? 0;
    return Promise.resolve({ ramMb, peakRamMb: ramMb, vramMb, peakVramMb: vramMb });
  }

  stop(reason: string): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.stopReason = reason;
      this.#runtime.log.push(`stop ${this.id} ${reason}`);
      this.#runtime.remove(this);
    }
    return Promise.resolve();
  }
}

/** A runtime of fake capabilities; see the module docs. */
export class FakeRuntime implements CapabilityRuntime {
  readonly #specs = new Map<string, FakeCapability>();
  readonly #instances: FakeInstance[] = [];
  /** What happened, in order (`execute ID METHOD`, `start ID`, `stop ID REASON`). */
  readonly log: string[] = [];
  /** Instances started, in order. */
  readonly started: FakeInstance[] = [];
  /** The `gpu` option of each instance() call, in order (null when left out). */
  readonly gpusAsked: (number | null)[] = [];
  /** Delay of starting an instance, ms (0: at once). */
  startDelayMs = 0;

  /** Install fake capabilities. */
  constructor(capabilities: FakeCapability[] = []) {
    for (const c of capabilities) this.add(c);
  }

  /** Install one more. */
  add(capability: FakeCapability): void {
    this.#specs.set(capability.name, capability);
  }

  list(): CapabilityDescriptor[] {
    return [...this.#specs.keys()].map((n) => this.get(n)!);
  }

  get(name: string): CapabilityDescriptor | undefined {
    const spec = this.#specs.get(name);
    if (!spec) return undefined;
    return {
      name: spec.name,
      version: "1.0.0",
      description: `fake ${spec.name}`,
      environment: "deno",
      resources: { ramMb: 0, vramMb: 0, gpu: false, ...spec.resources },
      concurrency: spec.concurrency ?? 1,
      methods: spec.methods ?? [],
    };
  }

  async instance(
    name: string,
    config: unknown,
    options: { signal?: AbortSignal; gpu?: number } = {},
  ): Promise<CapabilityInstance> {
    this.gpusAsked.push(options.gpu ?? null);
    const spec = this.#specs.get(name);
    if (!spec) throw new RoamError("not_found", `no capability ${name}`, {});
    const key = this.configKey(config);
    const concurrency = spec.concurrency ?? 1;
    const ready = this.#instances.find((i) =>
      i.capability === name && i.configKey === key && i.active < concurrency
    );
    if (ready) return ready;
    if (this.startDelayMs) await new Promise((r) => setTimeout(r, this.startDelayMs));
    options.signal?.throwIfAborted();
    const instance = new FakeInstance(this, spec, name, key);
    this.#instances.push(instance);
    this.started.push(instance);
    this.log.push(`start ${instance.id}`);
    return instance;
  }

  instances(): CapabilityInstance[] {
    return [...this.#instances];
  }

  configKey(config: unknown): string {
    return JSON.stringify(config ?? {});
  }

  async close(): Promise<void> {
    for (const i of [...this.#instances]) await i.stop("closed");
  }

  /** @internal */
  remove(instance: FakeInstance): void {
    const index = this.#instances.indexOf(instance);
    if (index >= 0) this.#instances.splice(index, 1);
  }
}

/**
 * A machine with figures a test sets, or computes at each read (for example
 * GPU use as outside use plus what the fake instances hold).
 */
export class FakeProbe implements ResourceProbe {
  /** The figures {@linkcode FakeProbe.read} returns, unless `compute` is set. */
  system: SystemResources;
  /** Figures computed at each read. */
  compute?: () => SystemResources;
  /** Reads so far. */
  reads = 0;

  constructor(system: Partial<SystemResources> = {}) {
    this.system = { ramTotalMb: 0, ramAvailableMb: 0, gpus: [], ...system };
  }

  read(): Promise<SystemResources> {
    this.reads++;
    return Promise.resolve(structuredClone(this.compute?.() ?? this.system));
  }
}

/** A promise with its resolve and reject, for steering fake calls. */
export function gate<T = void>(): {
  promise: Promise<T>;
  open: (value: T) => void;
  fail: (error: unknown) => void;
} {
  let open!: (value: T) => void;
  let fail!: (error: unknown) => void;
  const promise = new Promise<T>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}
