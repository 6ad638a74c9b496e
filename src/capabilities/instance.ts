import { join } from "node:path";
import { z } from "zod";
import { RoamError } from "../errors/mod.ts";
import type { CapabilityInstance, ExecuteOptions, MeasuredUse } from "./contract.ts";
import type { DiagnosticsLog, DiagnosticsStore } from "./diagnostics.ts";
import type { LaunchSpec } from "./environment.ts";
import { capabilityError } from "./errors.ts";
import type { CapabilityManifest } from "./manifest.ts";
import { groupPids, rssMb, vramMb } from "./measure.ts";
import {
  errorFromWorker,
  MAX_REPLY_BYTES,
  parseReply,
  PORT_LINE,
  PROTOCOL_VERSION,
  StreamLineSchema,
  WorkerClient,
  WorkerErrorSchema,
  WorkerInfoSchema,
} from "./protocol.ts";
import { exitWithin, GroupProcess } from "./worker_process.ts";

/** Timings of an instance's life. */
export interface InstanceTimings {
  /** Most milliseconds from spawn until the worker prints its port. */
  startTimeoutMs: number;
  /** Most milliseconds `/initialize` may take in all (a cap for a load that never ends). */
  initTimeoutMs: number;
  /**
   * Most milliseconds the worker may leave `GET /health` unanswered while
   * it initializes: a slow load that stays responsive is never cut off
   * before `initTimeoutMs`, a wedged one is stopped after this.
   */
  initStallMs: number;
  /** How long a stop waits after the shutdown call, and again after SIGTERM. */
  stopGraceMs: number;
  /** How long a cancelled call may take to end before its instance is stopped. */
  cancelGraceMs: number;
}

/** What {@linkcode WorkerInstance.start} needs. */
export interface InstanceOptions {
  /** The capability. */
  manifest: CapabilityManifest;
  /** Its plugin dir (the worker's working directory). */
  pluginDir: string;
  /** The config to initialize with. */
  config: unknown;
  /** Its stable hash. */
  configKey: string;
  /** How to start the worker. */
  launch: LaunchSpec;
  /** The environment workers inherit. */
  baseEnv: Record<string, string>;
  /** A dir the capability may keep data in across instances. */
  dataDir: string;
  /** Where its output goes. */
  diagnostics: DiagnosticsStore;
  /** Timings. */
  timings: InstanceTimings;
  /** Called once when the process is gone: `expected` false for a death. */
  onExit: (instance: WorkerInstance, status: Deno.CommandStatus, expected: boolean) => void;
  /** Called with the pid and instance id once the process runs (for the orphan registry). */
  onSpawn?: (pid: number, instanceId: string) => void;
  /** Aborting stops a start in progress. */
  signal?: AbortSignal;
  /** The GPU index it is given (CUDA_VISIBLE_DEVICES), when the queue chose one. */
  gpu?: number;
}

const ResultSchema = z.object({ result: z.unknown() });
const OkSchema = z.object({ status: z.literal("ok") });

/**
 * One worker process of a capability with one config, speaking the worker
 * protocol over loopback HTTP with a token of its own.
 */
export class WorkerInstance implements CapabilityInstance {
  /** Unique id. */
  readonly id: string;
  /** Capability name. */
  readonly capability: string;
  #configKey: string;
  /** When it became ready (ms since epoch). */
  readonly startedAt: number;
  /** Methods the worker says it has. */
  readonly methods: string[];
  /** Milliseconds from spawn to ready. */
  readonly startMs: number;
  /** The GPU index it was given, if any. */
  readonly gpu: number | undefined;
  /** Resolves once the process has ended and its exit has been handled (`onExit` ran). */
  readonly ended: Promise<void>;
  #active = 0;
  #lastUsedAt: number;
  #process: GroupProcess;
  #client: WorkerClient;
  #log: DiagnosticsLog;
  #options: InstanceOptions;
  #stopping: Promise<void> | undefined;
  #stopReason: string | undefined;
  #peak = { ram: 0, vram: 0 };
  #sample: { at: number; use: Promise<MeasuredUse> } | undefined;

  private constructor(
    init: {
      id: string;
      process: GroupProcess;
      client: WorkerClient;
      log: DiagnosticsLog;
      methods: string[];
      startMs: number;
    },
    options: InstanceOptions,
  ) {
    this.id = init.id;
    this.capability = options.manifest.name;
    this.#configKey = options.configKey;
    this.#process = init.process;
    this.#client = init.client;
    this.#log = init.log;
    this.methods = init.methods;
    this.startMs = init.startMs;
    this.gpu = options.gpu;
    this.#options = options;
    this.startedAt = this.#lastUsedAt = Date.now();
    this.ended = this.#process.status.then((status) => this.#exited(status));
  }

  /**
   * Spawn a worker, wait for its port, check its protocol and initialize it
   * with the config. On any failure the whole group is killed and the error
   * says why, quoting the worker's last output lines.
   */
  static async start(options: InstanceOptions): Promise<WorkerInstance> {
    const began = performance.now();
    const { manifest, timings } = options;
    const name = manifest.name;
    const id = `${name}-${crypto.randomUUID().slice(0, 8)}`;
    const token = crypto.randomUUID().replaceAll("-", "") + crypto.randomUUID().replaceAll("-", "");
    const log = options.diagnostics.open(name, id);
    let announced: (port: number) => void;
    const port = new Promise<number>((resolve) => announced = resolve);
    let portSeen = false;
    await Deno.mkdir(options.dataDir, { recursive: true });
    let process: GroupProcess;
    try {
      process = GroupProcess.spawn({
        command: options.launch.command,
        args: options.launch.args,
        cwd: options.pluginDir,
        env: {
          ...options.baseEnv,
          ...options.launch.env,
          ROAM_WORKER_TOKEN: token,
          ROAM_WORKER_CONCURRENCY: String(manifest.concurrency),
          ROAM_CAPABILITY: name,
          ROAM_CAPABILITY_DATA_DIR: options.dataDir,
          ...(options.gpu === undefined ? {} : { CUDA_VISIBLE_DEVICES: String(options.gpu) }),
        },
        onLine: (stream, line) => {
          const match = !portSeen && stream === "stdout" ? PORT_LINE.exec(line) : null;
          if (match) {
            portSeen = true;
            announced(Number(match[1]));
          }
          log.write(stream, line);
        },
      });
    } catch (error) {
      log.close();
      throw error;
    }
    options.onSpawn?.(process.pid, id);
    log.write(
      "roam",
      `started pid ${process.pid}: ${options.launch.command} ${options.launch.args.join(" ")}`,
    );
    const context = { capability: name, instanceId: id };
    const fail = async (error: RoamError) => {
      log.write("roam", error.message);
      await process.terminate(0);
      await exitWithin(process.drained, 1_000);
      log.close();
      const tail = log.tail().filter((l) => !l.startsWith("ROAM_WORKER_PORT="));
      if (tail.length) error.message += `; its last lines:\n  ${tail.slice(-8).join("\n  ")}`;
      return error;
    };
    let client: WorkerClient | undefined;
    const abort = abortOf(options.signal);
    try {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const outcome = await Promise.race([
        port.then((p) => ({ kind: "port" as const, port: p })),
        process.status.then((s) => ({ kind: "exit" as const, status: s })),
        new Promise<{ kind: "timeout" }>((resolve) =>
          timer = setTimeout(() => resolve({ kind: "timeout" }), timings.startTimeoutMs)
        ),
        abort.promise,
      ]).finally(() => clearTimeout(timer));
      if (outcome.kind === "exit") {
        throw capabilityError(
          "fatal",
          `the worker of ${name} exited (code ${outcome.status.code}${
            outcome.status.signal ? `, ${outcome.status.signal}` : ""
          }) before it listened; see 'roam cap logs ${name}'`,
          { ...context, exitCode: outcome.status.code },
        );
      }
      if (outcome.kind === "timeout") {
        throw capabilityError(
          "transient",
          `the worker of ${name} did not print its port within ${timings.startTimeoutMs} ms (does its entry call serve()?)`,
          context,
          "timeout",
        );
      }
      if (outcome.kind === "aborted") {
        throw new RoamError("cancelled", `the start of ${name} was cancelled`, {
          ...context,
          category: "transient",
        });
      }
      client = new WorkerClient(outcome.port, token);
      const info = await client.json("GET", "/info", WorkerInfoSchema, {
        timeoutMs: 10_000,
        context,
      });
      if (info.protocol !== PROTOCOL_VERSION) {
        throw capabilityError(
          "fatal",
          `the worker of ${name} speaks protocol ${info.protocol}, this host ${PROTOCOL_VERSION}; update its worker library`,
          context,
        );
      }
      await whileAnswering(
        client.json("POST", "/initialize", OkSchema, {
          body: { config: options.config ?? {} },
          timeoutMs: timings.initTimeoutMs,
          context: { ...context, method: "initialize" },
        }),
        client,
        timings.initStallMs,
        context,
        abort.promise,
      );
      const startMs = performance.now() - began;
      log.write("roam", `ready in ${Math.round(startMs)} ms; methods: ${info.methods.join(", ")}`);
      return new WorkerInstance(
        { id, process, client, log, methods: info.methods, startMs },
        options,
      );
    } catch (error) {
      client?.close();
      // A broken connection is often the worker dying: give its exit a moment to show.
      if (!(error instanceof RoamError)) await exitWithin(process.status, 500);
      const exit = process.exit;
      const roam = error instanceof RoamError ? error : exit
        ? capabilityError(
          "fatal",
          `the worker of ${name} exited (code ${exit.code}${
            exit.signal ? `, ${exit.signal}` : ""
          }) while it started; see 'roam cap logs ${name}'`,
          { ...context, exitCode: exit.code, signal: exit.signal },
        )
        : capabilityError(
          "transient",
          `the worker of ${name} did not start: ${(error as Error).message}`,
          context,
        );
      throw await fail(roam);
    } finally {
      abort.dispose();
    }
  }

  /** Hash of the config it runs with now. */
  get configKey(): string {
    return this.#configKey;
  }

  /**
   * Give the worker a new config without a restart (`POST /reconfigure`);
   * `configKey` is its hash. Refused while calls run on it.
   */
  async reconfigure(config: unknown, configKey: string): Promise<void> {
    const context = { capability: this.capability, instanceId: this.id, method: "reconfigure" };
    if (!this.alive || this.#active > 0) {
      throw new RoamError(
        "conflict",
        `instance ${this.id} of ${this.capability} is ${
          this.alive ? "busy" : "gone"
        }; reconfigure it when it is idle`,
        { ...context, category: "transient" },
      );
    }
    this.#active++;
    try {
      await this.#client.json("POST", "/reconfigure", OkSchema, {
        body: { config: config ?? {} },
        timeoutMs: this.#options.timings.initTimeoutMs,
        context,
      });
      this.#configKey = configKey;
      this.#log.write("roam", `reconfigured (config ${configKey})`);
    } finally {
      this.#end();
    }
  }

  /** Process id of the worker, the leader of its process group. */
  get pid(): number {
    return this.#process.pid;
  }

  /** Calls running now. */
  get active(): number {
    return this.#active;
  }

  /** When it last finished a call. */
  get lastUsedAt(): number {
    return this.#lastUsedAt;
  }

  /** Whether it can take calls (not stopping, not dead). */
  get alive(): boolean {
    return !this.#stopping && !this.#process.exit;
  }

  /** Where its output goes. */
  get logPath(): string {
    return this.#log.path;
  }

  /** Run `method` on the worker; see {@linkcode CapabilityInstance.execute}. */
  async execute(method: string, args: unknown, options: ExecuteOptions = {}): Promise<unknown> {
    const context = { capability: this.capability, instanceId: this.id, method };
    if (!this.alive) {
      throw capabilityError(
        "transient",
        `instance ${this.id} of ${this.capability} is ${
          this.#stopReason ? `stopped (${this.#stopReason})` : "gone"
        }; ask for a new one`,
        context,
        "unavailable",
      );
    }
    if (options.signal?.aborted) {
      throw new RoamError("cancelled", `the call to ${this.capability}.${method} was cancelled`, {
        ...context,
        category: "transient",
        cancelled: true,
      });
    }
    const callId = crypto.randomUUID();
    const request = new AbortController();
    let ended = false;
    let why: "cancel" | "timeout" | undefined;
    let graceTimer: ReturnType<typeof setTimeout> | undefined;
    const cancel = (reason: "cancel" | "timeout") => {
      if (why || ended) return;
      why = reason;
      void this.#client.request("POST", "/cancel", { callId }, AbortSignal.timeout(2_000))
        .then((r) => r.body?.cancel()).catch(() => {});
      graceTimer = setTimeout(() => {
        if (ended) return;
        request.abort();
        void this.stop(
          `a call did not end within ${this.#options.timings.cancelGraceMs} ms of its ${reason}`,
        );
      }, this.#options.timings.cancelGraceMs);
    };
    const onAbort = () => cancel("cancel");
    options.signal?.addEventListener("abort", onAbort);
    const deadline = options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => cancel("timeout"), options.timeoutMs);
    this.#begin();
    try {
      const body = { callId, method, args: args ?? null };
      return options.onProgress
        ? await this.#stream(body, request.signal, options.onProgress, context)
        : await this.#unary(body, request.signal, context);
    } catch (error) {
      if (why === "timeout") {
        throw capabilityError(
          "transient",
          `${this.capability}.${method} took longer than ${options.timeoutMs} ms and was cancelled`,
          { ...context, timeoutMs: options.timeoutMs },
          "timeout",
        );
      }
      if (why === "cancel") {
        throw new RoamError("cancelled", `the call to ${this.capability}.${method} was cancelled`, {
          ...context,
          category: "transient",
          cancelled: true,
        });
      }
      if (error instanceof RoamError) throw error;
      throw await this.#lost(error, context);
    } finally {
      ended = true;
      clearTimeout(graceTimer);
      clearTimeout(deadline);
      options.signal?.removeEventListener("abort", onAbort);
      this.#end();
    }
  }

  async #unary(
    body: unknown,
    signal: AbortSignal,
    context: Record<string, unknown>,
  ): Promise<unknown> {
    const response = await this.#client.request("POST", "/execute", body, signal);
    const size = Number(response.headers.get("content-length") ?? 0);
    if (size > MAX_REPLY_BYTES) {
      await response.body?.cancel();
      throw capabilityError(
        "fatal",
        `${context.capability}.${context.method} answered ${size} bytes, more than the ${MAX_REPLY_BYTES} a reply may hold; return a path or an artifact instead`,
        { ...context, size },
        "too_large",
      );
    }
    const value = await response.json();
    if (response.ok) return parseReply(ResultSchema, value, "/execute", context).result;
    const error = WorkerErrorSchema.safeParse(value?.error);
    if (error.success) throw errorFromWorker(error.data, context);
    throw capabilityError(
      "fatal",
      `the worker answered /execute with HTTP ${response.status}`,
      context,
    );
  }

  async #stream(
    body: unknown,
    signal: AbortSignal,
    onProgress: NonNullable<ExecuteOptions["onProgress"]>,
    context: Record<string, unknown>,
  ): Promise<unknown> {
    const response = await this.#client.request("POST", "/execute/stream", body, signal);
    if (!response.ok || !response.body) {
      const value = await response.json().catch(() => undefined);
      const error = WorkerErrorSchema.safeParse(value?.error);
      if (error.success) throw errorFromWorker(error.data, context);
      throw capabilityError(
        "fatal",
        `the worker answered /execute/stream with HTTP ${response.status}`,
        context,
      );
    }
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of response.body) {
      pending += decoder.decode(chunk, { stream: true });
      if (pending.length > MAX_REPLY_BYTES) {
        await response.body.cancel().catch(() => {});
        throw capabilityError(
          "fatal",
          `a line of ${context.capability}.${context.method}'s stream is over ${MAX_REPLY_BYTES} bytes; send smaller partial results`,
          context,
          "too_large",
        );
      }
      let end: number;
      while ((end = pending.indexOf("\n")) >= 0) {
        const text = pending.slice(0, end);
        pending = pending.slice(end + 1);
        if (!text.trim()) continue;
        const line = parseReply(StreamLineSchema, JSON.parse(text), "/execute/stream", context);
        if (line.type === "result") return line.result;
        if (line.type === "error") throw errorFromWorker(line.error, context);
        const { type: _, ...progress } = line;
        try {
          onProgress(progress);
        } catch {
          // A listener's failure is not the call's.
        }
      }
    }
    throw new TypeError("the stream ended without a result");
  }

  /** The error for a call whose connection broke: a death when the process is gone. */
  async #lost(error: unknown, context: Record<string, unknown>): Promise<RoamError> {
    await exitWithin(this.#process.status, 1_000);
    const status = this.#process.exit;
    if (this.#stopReason && status) {
      return capabilityError(
        "transient",
        `instance ${this.id} of ${this.capability} was stopped (${this.#stopReason}) during the call`,
        context,
        "unavailable",
      );
    }
    if (status) {
      return capabilityError(
        "transient",
        `the worker of ${this.capability} died during the call (exit ${status.code}${
          status.signal ? `, ${status.signal}` : ""
        }); a new instance is started on the next call; see 'roam cap logs ${this.capability}'`,
        { ...context, exitCode: status.code, signal: status.signal },
        "crashed",
      );
    }
    return capabilityError(
      "transient",
      `lost the connection to the worker of ${this.capability}: ${
        (error as Error)?.message ?? error
      }`,
      context,
      "unavailable",
    );
  }

  /**
   * Memory of its whole process group now and at most so far: a sample at
   * most a second old (the runtime samples every busy instance each second,
   * so peaks are seen), so calling it often is cheap.
   */
  measure(): Promise<MeasuredUse> {
    if (this.#sample && Date.now() - this.#sample.at < 1_000) return this.#sample.use;
    const use = (async () => {
      const pids = groupPids(this.pid);
      const ramMb = rssMb(pids);
      const vram = await vramMb(pids);
      this.#peak.ram = Math.max(this.#peak.ram, ramMb);
      this.#peak.vram = Math.max(this.#peak.vram, vram);
      return { ramMb, peakRamMb: this.#peak.ram, vramMb: vram, peakVramMb: this.#peak.vram };
    })();
    this.#sample = { at: Date.now(), use };
    return use;
  }

  /** Shutdown call, then SIGTERM, then SIGKILL of the whole group. Idempotent. */
  stop(reason: string): Promise<void> {
    if (!this.#stopping) {
      this.#stopReason = reason;
      this.#log.write("roam", `stopping: ${reason}`);
      this.#stopping = (async () => {
        const began = performance.now();
        if (!this.#process.exit) {
          await this.#client.request(
            "POST",
            "/shutdown",
            {},
            AbortSignal.timeout(this.#options.timings.stopGraceMs),
          )
            .then((r) => r.body?.cancel()).catch(() => {});
        }
        await this.#process.terminate(this.#options.timings.stopGraceMs, performance.now() - began);
        await exitWithin(this.#process.drained, 1_000);
      })();
    }
    return this.#stopping;
  }

  #begin(): void {
    this.#active++;
  }

  #end(): void {
    this.#active--;
    this.#lastUsedAt = Date.now();
  }

  async #exited(status: Deno.CommandStatus): Promise<void> {
    const expected = this.#stopReason !== undefined;
    if (!expected) {
      this.#log.write(
        "roam",
        `the worker exited unexpectedly (code ${status.code}${
          status.signal ? `, ${status.signal}` : ""
        })`,
      );
      // What it left behind in its group goes too.
      await this.#process.terminate(0);
    } else {
      this.#log.write(
        "roam",
        `stopped (code ${status.code}${status.signal ? `, ${status.signal}` : ""})`,
      );
    }
    this.#client.close();
    // A grandchild that left the group may hold the output open; do not wait for it.
    await exitWithin(this.#process.drained, 1_000);
    this.#log.close();
    this.#options.onExit(this, status, expected);
  }
}

const HealthSchema = z.object({ status: z.literal("ok") });

/**
 * Await `work` while asking the worker `GET /health` every second; fail as
 * stalled (`timeout`, transient) when it has not answered for `stallMs`.
 * Liveness, not a stopwatch: a long initialize in a responsive worker runs on.
 */
async function whileAnswering<T>(
  work: Promise<T>,
  client: WorkerClient,
  stallMs: number,
  context: Record<string, unknown>,
  abort: Promise<unknown>,
): Promise<T> {
  let lastAnswer = Date.now();
  let timer: ReturnType<typeof setInterval> | undefined;
  let probing = false;
  const stalled = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      if (Date.now() - lastAnswer > stallMs) {
        reject(capabilityError(
          "transient",
          `the worker of ${context.capability} did not answer /health for ${stallMs} ms while it initialized and was stopped as stalled`,
          { ...context, stallMs },
          "timeout",
        ));
        return;
      }
      if (probing) return;
      probing = true;
      client.json("GET", "/health", HealthSchema, { timeoutMs: stallMs, context })
        .then(() => lastAnswer = Date.now(), () => {})
        .finally(() => probing = false);
    }, Math.max(10, Math.min(1_000, stallMs / 4)));
  });
  const aborted = abort.then(() => {
    throw new RoamError("cancelled", `the start of ${context.capability} was cancelled`, {
      ...context,
      category: "transient",
    });
  });
  try {
    return await Promise.race([work, stalled, aborted]);
  } finally {
    clearInterval(timer);
    // The race's loser must not surface as an unhandled rejection.
    work.catch(() => {});
  }
}

/** A promise that resolves when `signal` aborts, and a way to stop listening. */
function abortOf(signal?: AbortSignal): {
  promise: Promise<{ kind: "aborted" }>;
  dispose: () => void;
} {
  if (!signal) return { promise: new Promise(() => {}), dispose: () => {} };
  if (signal.aborted) return { promise: Promise.resolve({ kind: "aborted" }), dispose: () => {} };
  let listener = () => {};
  const promise = new Promise<{ kind: "aborted" }>((resolve) => {
    listener = () => resolve({ kind: "aborted" });
    signal.addEventListener("abort", listener, { once: true });
  });
  return { promise, dispose: () => signal.removeEventListener("abort", listener) };
}

/** Where an instance of `capability` keeps data: `DATA_DIR/capability-data/<name>`. */
export function capabilityDataDir(dataDir: string, capability: string): string {
  return join(dataDir, "capability-data", capability);
}
