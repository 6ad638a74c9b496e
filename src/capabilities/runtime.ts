import { createHash } from "node:crypto";
import type { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { RoamError } from "../errors/mod.ts";
import type { EventLog } from "../store/mod.ts";
import { CapabilityCatalog, type InstalledCapability } from "./catalog.ts";
import { checkConfig } from "./config_schema.ts";
import type { CapabilityDescriptor, CapabilityInstance, CapabilityRuntime } from "./contract.ts";
import { type DiagnosticsLog, type DiagnosticsRetention, DiagnosticsStore } from "./diagnostics.ts";
import { EnvironmentCache, prepareEnvironment } from "./environment.ts";
import { capabilityDataDir, type InstanceTimings, WorkerInstance } from "./instance.ts";
import { ProcessRegistry } from "./process_registry.ts";
import { writeWorkerLibraries } from "./worker_library.ts";

/** Options for {@linkcode CapabilityHost}. */
export interface CapabilityHostOptions {
  /** The host's data dir: capabilities, envs, diagnostics and lib live under it. */
  dataDir: string;
  /** The host DB, for the orphan sweep (left out in unit tests). */
  db?: DatabaseSync;
  /** Where lifecycle events go. */
  events?: EventLog;
  /** Log lines for people. */
  log?: (line: string) => void;
  /** Most milliseconds an environment creation step may print nothing. Default 300000. */
  envStallMs?: number;
  /** Timings of instances. */
  timings?: Partial<InstanceTimings>;
  /** Retention of the diagnostics store. */
  diagnostics?: Partial<DiagnosticsRetention>;
  /** Most instances running at once (all capabilities). Default 64. */
  maxInstances?: number;
  /** The environment workers and environment builds inherit. Default: this process's. */
  env?: Record<string, string>;
}

/** The default timings of an instance. */
export const DEFAULT_TIMINGS: InstanceTimings = {
  startTimeoutMs: 120_000,
  initTimeoutMs: 3_600_000,
  initStallMs: 120_000,
  stopGraceMs: 3_000,
  cancelGraceMs: 3_000,
};

/** Variables never passed to a worker or an environment build. */
const SECRET_ENV = ["ROAM_TOKEN"];

/**
 * The capability runtime: installed capabilities, their environments, and
 * their running instances (supervised worker processes). Implements the
 * {@linkcode CapabilityRuntime} seam the job queue uses.
 *
 * @example
 * const runtime = new CapabilityHost({ dataDir });
 * await runtime.add("./plugins/echo-py");
 * const instance = await runtime.instance("echo-py", {});
 * await instance.execute("echo", { hello: 1 });
 * await runtime.close();
 */
export class CapabilityHost implements CapabilityRuntime {
  /** Installed capabilities. */
  readonly catalog: CapabilityCatalog;
  /** Worker and environment output. */
  readonly diagnostics: DiagnosticsStore;
  readonly #options: CapabilityHostOptions;
  readonly #timings: InstanceTimings;
  readonly #cache: EnvironmentCache;
  readonly #registry: ProcessRegistry | undefined;
  readonly #instances = new Map<string, WorkerInstance>();
  readonly #starting = new Map<string, Promise<WorkerInstance>>();
  readonly #methods = new Map<string, string[]>();
  readonly #idleTimer: ReturnType<typeof setInterval>;
  #libDir: Promise<string> | undefined;
  #closed = false;
  /** Aborted at close: starts in progress (a long pip install) stop at once. */
  readonly #closing = new AbortController();

  /** A runtime over `options.dataDir`; sweeps worker groups left by a crashed earlier host. */
  constructor(options: CapabilityHostOptions) {
    this.#options = options;
    this.#timings = { ...DEFAULT_TIMINGS, ...options.timings };
    this.catalog = new CapabilityCatalog(join(options.dataDir, "capabilities"));
    this.diagnostics = new DiagnosticsStore(
      join(options.dataDir, "diagnostics"),
      options.diagnostics,
    );
    this.#cache = new EnvironmentCache(join(options.dataDir, "envs"));
    if (options.db) {
      this.#registry = new ProcessRegistry(options.db);
      const { killed } = this.#registry.sweep();
      if (killed.length) {
        options.log?.(
          `roam: killed ${killed.length} capability worker group(s) left by an earlier host: ${
            killed.join(", ")
          }`,
        );
      }
    }
    this.#idleTimer = setInterval(() => this.#tick(), 1_000);
  }

  /** Installed capabilities. */
  list(): CapabilityDescriptor[] {
    return this.catalog.list().map((c) => this.#describe(c));
  }

  /** One installed capability, or undefined. */
  get(name: string): CapabilityDescriptor | undefined {
    const installed = this.catalog.get(name);
    return installed ? this.#describe(installed) : undefined;
  }

  /** Install the capability in `dir`, replacing (and stopping) one of the same name. */
  async add(
    dir: string,
  ): Promise<{ name: string; version: string; replaced: boolean; dir: string }> {
    const added = await this.catalog.add(dir);
    const stale = [...this.#instances.values()].filter((i) => i.capability === added.manifest.name);
    await Promise.all(stale.map((i) => i.stop("a new version was installed")));
    this.#methods.delete(added.manifest.name);
    this.#options.events?.append("capability.installed", {
      name: added.manifest.name,
      version: added.manifest.version,
      replaced: added.replaced,
    }, added.manifest.name);
    return {
      name: added.manifest.name,
      version: added.manifest.version,
      replaced: added.replaced,
      dir: added.dir,
    };
  }

  /**
   * Give a running instance a new config in place (its worker's
   * `/reconfigure`), checked against the capability's schema first.
   */
  async reconfigure(instanceId: string, config: unknown): Promise<WorkerInstance> {
    const instance = this.#instances.get(instanceId);
    if (!instance) {
      throw new RoamError(
        "not_found",
        `no running instance ${instanceId}; see 'roam cap instances'`,
        {
          instanceId,
        },
      );
    }
    const manifest = this.catalog.get(instance.capability)?.manifest;
    checkConfig(instance.capability, manifest?.config, config ?? {});
    await instance.reconfigure(config ?? {}, this.configKey(config ?? {}));
    return instance;
  }

  /** Stop every instance of `name` and uninstall it (a cached environment stays for reuse). */
  async remove(name: string): Promise<{ removed: boolean; stopped: string[] }> {
    const stopped = await this.stop(name, "the capability was removed");
    const removed = await this.catalog.remove(name);
    this.#methods.delete(name);
    if (removed) this.#options.events?.append("capability.removed", { name }, name);
    return { removed, stopped };
  }

  /** A stable hash of a config: canonical JSON (sorted keys), sha256, 16 hex digits. */
  configKey(config: unknown): string {
    return createHash("sha256").update(canonicalJson(config ?? {})).digest("hex").slice(0, 16);
  }

  /** Every running instance. */
  instances(): WorkerInstance[] {
    return [...this.#instances.values()];
  }

  /**
   * A ready instance of (capability, config): a running one with room for
   * another call, else a new one (concurrent requests share one start).
   */
  async instance(
    name: string,
    config: unknown,
    options: { signal?: AbortSignal; gpu?: number } = {},
  ): Promise<CapabilityInstance> {
    if (this.#closed) {
      throw new RoamError(
        "unavailable",
        "the capability runtime is closed (the host is stopping)",
        {
          category: "transient",
        },
      );
    }
    const installed = this.catalog.get(name);
    if (!installed) {
      const names = this.catalog.list().map((c) => c.manifest.name);
      throw new RoamError(
        "not_found",
        `no capability named ${name} is installed${
          names.length ? ` (installed: ${names.join(", ")})` : ""
        }; install one with 'roam cap add DIR' or 'roam plugin install'`,
        { name, category: "user_input" },
      );
    }
    const manifest = installed.manifest;
    const normalized = config ?? {};
    checkConfig(name, manifest.config, normalized);
    const key = this.configKey(normalized);
    const free = this.#free(name, key, manifest.concurrency, options.gpu);
    if (free) return free;
    const slot = `${name}/${key}/${options.gpu ?? ""}`;
    const pending = this.#starting.get(slot);
    if (pending) {
      const started = await untilAborted(pending, options.signal, name);
      if (started.alive && started.active < manifest.concurrency) return started;
    }
    if (this.#instances.size >= (this.#options.maxInstances ?? 64)) {
      throw new RoamError(
        "quota_exceeded",
        `${this.#instances.size} capability instances are running, the most this host runs; stop some with 'roam cap stop'`,
        { category: "resource", running: this.#instances.size },
      );
    }
    // A start is shared, so it is never tied to one caller's signal: a caller
    // who gives up stops waiting, and the instance serves the next one.
    const start = this.#start(installed, normalized, key, options.gpu)
      .finally(() => {
        if (this.#starting.get(slot) === start) this.#starting.delete(slot);
      });
    this.#starting.set(slot, start);
    return await untilAborted(start, options.signal, name);
  }

  /** Stop one instance by id, or every instance of a capability by name. Returns the ids stopped. */
  async stop(target: string, reason = "stopped by request"): Promise<string[]> {
    const chosen = this.instances().filter((i) => i.id === target || i.capability === target);
    await Promise.all(chosen.map((i) => i.stop(reason)));
    return chosen.map((i) => i.id);
  }

  /** Stop every instance (host shutdown). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort();
    clearInterval(this.#idleTimer);
    await Promise.allSettled([...this.#starting.values()]);
    const all = this.instances();
    await Promise.all(all.map((i) => i.stop("the host is stopping")));
    // Their exits are handled (recorded, logged) before the host closes its database.
    await Promise.allSettled(all.map((i) => i.ended));
  }

  #free(
    name: string,
    key: string,
    concurrency: number,
    gpu: number | undefined,
  ): WorkerInstance | undefined {
    let best: WorkerInstance | undefined;
    for (const instance of this.#instances.values()) {
      if (instance.capability !== name || instance.configKey !== key || !instance.alive) continue;
      if (gpu !== undefined && instance.gpu !== gpu) continue;
      if (instance.active >= concurrency) continue;
      if (!best || instance.active < best.active) best = instance;
    }
    return best;
  }

  async #start(
    installed: InstalledCapability,
    config: unknown,
    key: string,
    gpu: number | undefined,
  ): Promise<WorkerInstance> {
    const signal = this.#closing.signal;
    const { manifest, dir } = installed;
    const events = this.#options.events;
    const baseEnv = { ...(this.#options.env ?? Deno.env.toObject()) };
    for (const name of SECRET_ENV) delete baseEnv[name];
    const log = lazyLog(() => this.diagnostics.open(manifest.name, "environment"));
    const progress = throttledProgress((line) =>
      events?.append("capability.env_progress", { name: manifest.name, line }, manifest.name)
    );
    const began = performance.now();
    let launch;
    try {
      this.#libDir ??= writeWorkerLibraries(this.#options.dataDir);
      const libDir = await this.#libDir;
      launch = await prepareEnvironment({
        manifest,
        pluginDir: dir,
        libDir,
        cache: this.#cache,
        stallMs: this.#options.envStallMs ?? 300_000,
        baseEnv,
        signal,
        progress: (line) => {
          log.write("env", line);
          progress.line(line);
        },
      });
      progress.flush();
      events?.append("capability.env_ready", {
        name: manifest.name,
        environment: manifest.environment.type,
        prefix: launch.prefix,
        ms: Math.round(performance.now() - began),
      }, manifest.name);
    } catch (error) {
      progress.flush();
      log.write("roam", `environment failed: ${(error as Error).message}`);
      events?.append("capability.env_failed", {
        name: manifest.name,
        message: (error as Error).message,
      }, manifest.name);
      throw error;
    } finally {
      log.close();
    }
    const instance = await WorkerInstance.start({
      manifest,
      pluginDir: dir,
      config,
      configKey: key,
      launch,
      baseEnv,
      dataDir: capabilityDataDir(this.#options.dataDir, manifest.name),
      diagnostics: this.diagnostics,
      timings: this.#timings,
      signal,
      gpu,
      onSpawn: (pid, instanceId) => this.#registry?.add(pid, manifest.name, instanceId),
      onExit: (gone, status, expected) => {
        this.#instances.delete(gone.id);
        this.#registry?.remove(gone.pid);
        events?.append(expected ? "capability.instance_stopped" : "capability.instance_died", {
          name: gone.capability,
          instanceId: gone.id,
          pid: gone.pid,
          exitCode: status.code,
          signal: status.signal,
        }, gone.capability);
        if (!expected) {
          this.#options.log?.(
            `roam: the worker of ${gone.capability} (pid ${gone.pid}) died (exit ${status.code}); the next call starts a new one`,
          );
        }
      },
    });
    if (this.#closed) {
      await instance.stop("the host is stopping");
      throw new RoamError("unavailable", "the host is stopping", { category: "transient" });
    }
    this.#instances.set(instance.id, instance);
    this.#methods.set(manifest.name, instance.methods);
    events?.append("capability.instance_started", {
      name: manifest.name,
      instanceId: instance.id,
      pid: instance.pid,
      configKey: key,
      ms: Math.round(instance.startMs),
    }, manifest.name);
    return instance;
  }

  #describe({ manifest }: InstalledCapability): CapabilityDescriptor {
    return {
      name: manifest.name,
      version: manifest.version,
      description: manifest.description,
      environment: manifest.environment.type,
      resources: { ...manifest.resources },
      concurrency: manifest.concurrency,
      methods: manifest.methods ?? this.#methods.get(manifest.name) ?? [],
    };
  }

  /** Each second: sample busy instances (for their peaks) and stop idle ones. */
  #tick(): void {
    const now = Date.now();
    for (const instance of this.#instances.values()) {
      if (instance.active > 0) void instance.measure().catch(() => {});
      if (instance.active > 0 || !instance.alive) continue;
      const idleMs = this.catalog.get(instance.capability)?.manifest.idleMs ?? 0;
      if (now - instance.lastUsedAt > idleMs) void instance.stop(`idle for ${idleMs} ms`);
    }
  }
}

/** `work`, unless `signal` aborts first: then a `cancelled` error (the work goes on). */
async function untilAborted<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  name: string,
): Promise<T> {
  if (!signal) return await work;
  const cancelled = () =>
    new RoamError("cancelled", `waiting for an instance of ${name} was cancelled`, {
      name,
      category: "transient",
      cancelled: true,
    });
  if (signal.aborted) throw cancelled();
  let listener = () => {};
  const aborted = new Promise<never>((_, reject) => {
    listener = () => reject(cancelled());
    signal.addEventListener("abort", listener, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener("abort", listener);
  }
}

/**
 * Lines to events at most once a second, each carrying the newest line; the
 * last line is never lost (`flush` sends it). Every line still goes to the
 * diagnostics, so a chatty pip install cannot flood the event log.
 */
function throttledProgress(emit: (line: string) => void) {
  let pending: string | undefined;
  let last = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (pending === undefined) return;
    emit(pending);
    pending = undefined;
    last = Date.now();
  };
  return {
    line(line: string) {
      pending = line;
      timer ??= setTimeout(flush, Math.max(0, 1_000 - (Date.now() - last)));
    },
    flush,
  };
}

/** A log file opened at its first line (a ready environment writes none). */
function lazyLog(
  open: () => DiagnosticsLog,
): { write(stream: string, line: string): void; close(): void } {
  let log: DiagnosticsLog | undefined;
  return {
    write: (stream, line) => (log ??= open()).write(stream, line),
    close: () => log?.close(),
  };
}

/** JSON with object keys sorted, so equal configs hash alike. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v) =>
      v && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
        : v,
  );
}
