/**
 * The job queue: capability calls run in priority order (higher first,
 * first-in-first-out within a priority), each admitted only when its
 * instance has a free call slot and the machine has the RAM and VRAM its
 * learned (else declared) peak needs, evicting idle instances least recently
 * used first to make room. Every job and attempt is journaled in SQLite;
 * queued jobs resume after a restart.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { RoamError } from "../errors/mod.ts";
import type { EventLog } from "../store/mod.ts";
import {
  type AdmissionView,
  applyAdmission,
  decide,
  ledger,
  type Need,
  type Pool,
  type Resident,
} from "./admission.ts";
import type {
  CallProgress,
  CapabilityDescriptor,
  CapabilityInstance,
  CapabilityRuntime,
  MeasuredUse,
} from "./contract.ts";
import { type JobError, type JobRow, type JobStatus, JobStore } from "./journal.ts";
import type { ResourceProbe, SystemResources } from "./resources.ts";

/** Limits and timings of the queue; every field has a default. */
export interface QueueLimits {
  /** Most jobs waiting at once; a submit beyond it fails with `queue_full`. Default 1000. */
  maxQueued: number;
  /** Most jobs running at once on this host. Default 64. */
  maxRunning: number;
  /** Most instances of one (capability, config) at once. Default 1. */
  maxInstances: number;
  /** An instance idle this long is stopped, ms. Default 300 000. */
  idleMs: number;
  /** RAM kept out of the capabilities' budget, MB. Default 512. */
  reserveRamMb: number;
  /** VRAM kept out of the budget on each GPU, MB. Default 256. */
  reserveVramMb: number;
  /** Finished jobs kept (with their journal). Default 10 000. */
  retainFinished: number;
  /** How often blocked jobs look at the machine again, ms. Default 1 000. */
  pollMs: number;
  /** Largest result kept, bytes of JSON. Default 4 MiB. */
  maxResultBytes: number;
}

/** The default {@linkcode QueueLimits}. */
export const DEFAULT_QUEUE_LIMITS: QueueLimits = {
  maxQueued: 1000,
  maxRunning: 64,
  maxInstances: 1,
  idleMs: 300_000,
  reserveRamMb: 512,
  reserveVramMb: 256,
  retainFinished: 10_000,
  pollMs: 1_000,
  maxResultBytes: 4 * 1024 * 1024,
};

/** A job to run here. */
export interface LocalSubmit {
  capability: string;
  method: string;
  args?: unknown;
  config?: unknown;
  /** Higher runs first. Default 5. */
  priority?: number;
  /** Time limit of each attempt's call, ms. */
  timeoutMs?: number;
  /** Who asked (the token subject, or `agent:ID`). */
  submittedBy?: string | null;
  /** Hears the job's progress from its first attempt on, with its id. */
  onProgress?: (progress: CallProgress, jobId: string) => void;
}

/** A job as callers see it. */
export interface JobView {
  id: string;
  capability: string;
  method: string;
  configKey: string;
  priority: number;
  status: JobStatus;
  attempts: number;
  /** 1 for the next to run; null unless queued here. */
  position: number | null;
  /** Why it waits; null unless queued. */
  reason: string | null;
  instanceId: string | null;
  /** The host it runs on when forwarded, else null (this host). */
  host: string | null;
  /** Its id on that host. */
  remoteId: string | null;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  result?: unknown;
  error: JobError | null;
  progress: CallProgress | null;
}

/** What {@linkcode JobQueue.resources} reports. */
export interface QueueResources {
  /** RAM, then each GPU: size, use, use outside roam, roam's budget, what is committed, what is free (MB). */
  pools: {
    key: string;
    label: string;
    totalMb: number;
    usedMb: number;
    reserveMb: number;
    outsideMb: number;
    budgetMb: number;
    committedMb: number;
    freeMb: number;
  }[];
  /** Every instance (and every one starting) with its use and peaks (MB). */
  instances: {
    id: string;
    capability: string;
    configKey: string;
    gpu: string | null;
    state: "starting" | "busy" | "idle" | "stopping";
    active: number;
    concurrency: number;
    ramMb: number;
    vramMb: number;
    peakRamMb: number;
    peakVramMb: number;
    idleMs: number;
  }[];
  /** Jobs waiting. */
  queued: number;
  /** Jobs running. */
  running: number;
}

/** Options for {@linkcode JobQueue}. */
export interface JobQueueOptions {
  db: DatabaseSync;
  runtime: CapabilityRuntime;
  probe: ResourceProbe;
  events?: EventLog;
  limits?: Partial<QueueLimits>;
  log?: (line: string) => void;
}

interface Live {
  row: JobRow;
  abort: AbortController;
  reason: string | null;
  progress: CallProgress | null;
  listeners: Set<(progress: CallProgress) => void>;
  cancelledBy: string | null;
  settled: Promise<void>;
  settle: () => void;
  /** What a failed attempt said it needed (a worker's `shortfall`), reserved for the retry, MB. */
  needs: { ramMb: number; vramMb: number };
}

const RETRYABLE = new Set(["transient", "resource"]);
/** Attempts a job gets: the first, and one retry of a transient or resource failure. */
export const MAX_ATTEMPTS = 2;

/** The job queue of one host; see the module docs. */
export class JobQueue {
  /** The limits it runs with (defaults filled in). */
  readonly limits: QueueLimits;
  /** Its jobs, journal and learned peaks in the host database. */
  readonly store: JobStore;
  readonly #o: JobQueueOptions;
  readonly #live = new Map<string, Live>();
  /** Queued jobs in run order. */
  readonly #waiting: Live[] = [];
  readonly #starting = new Map<string, Resident>();
  readonly #usage = new Map<string, MeasuredUse>();
  readonly #gpuOf = new Map<string, string | null>();
  readonly #onInstance = new Map<string, number>();
  readonly #evicting = new Set<string>();
  readonly #tasks = new Set<Promise<unknown>>();
  #passing = false;
  #again = false;
  #pass: Promise<void> = Promise.resolve();
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #idleTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #placeholders = 0;
  /** Called at every admission with the view after it and what the job added per pool (tests check budgets here). */
  onAdmit?: (view: AdmissionView, adds: Record<string, number>) => void;

  /** Make the queue; {@linkcode JobQueue.start} resumes stored jobs. */
  constructor(options: JobQueueOptions) {
    this.#o = options;
    this.limits = { ...DEFAULT_QUEUE_LIMITS, ...options.limits };
    this.store = new JobStore(options.db);
  }

  /**
   * Resume after a restart: jobs that were queued are queued again in their
   * order; jobs that were running are failed (their call may have had
   * effects, so they are not run twice without being asked).
   */
  start(): { requeued: number; interrupted: number } {
    let requeued = 0, interrupted = 0;
    for (const row of this.store.unfinished()) {
      if (row.remote) continue; // runs on another host; its status is asked there
      if (row.status === "running") {
        row.status = "failed";
        row.endedAt = Date.now();
        row.error = {
          code: "crashed",
          message:
            `interrupted: the host stopped while attempt ${row.attempts} ran; it was not run again since the call may have had effects; submit it again ('roam jobs submit')`,
          category: "transient",
        };
        this.store.update(row);
        this.store.journal(row.id, "recovered", row.attempts, { outcome: "failed" });
        interrupted++;
      } else {
        this.#enqueue(this.#track(row));
        this.store.journal(row.id, "recovered", row.attempts, { outcome: "requeued" });
        requeued++;
      }
    }
    const sweep = Math.max(50, Math.min(30_000, Math.floor(this.limits.idleMs / 2)));
    this.#idleTimer = setInterval(() => this.#evictIdle(), sweep);
    this.#schedule();
    return { requeued, interrupted };
  }

  /**
   * Queue a job here. Throws `not_found` for a capability not installed,
   * `invalid_input` for a method it does not offer, `queue_full` when the
   * queue holds `maxQueued` jobs, and `quota_exceeded` when the job could
   * never fit on this host (too little RAM, VRAM, or no GPU).
   */
  async submit(request: LocalSubmit): Promise<JobView> {
    this.#open();
    const descriptor = this.#descriptor(request.capability);
    if (descriptor.methods.length && !descriptor.methods.includes(request.method)) {
      throw new RoamError(
        "invalid_input",
        `${request.capability} has no method "${request.method}"; it offers ${
          descriptor.methods.join(", ")
        }`,
        { capability: request.capability, method: request.method, methods: descriptor.methods },
      );
    }
    if (this.#waiting.length >= this.limits.maxQueued) {
      throw new RoamError(
        "queue_full",
        `the job queue is full: ${this.#waiting.length} jobs wait (limit ${this.limits.maxQueued}); wait for some to finish, cancel some with 'roam jobs cancel', or raise jobs.maxQueued`,
        { queued: this.#waiting.length, limit: this.limits.maxQueued },
      );
    }
    const config = request.config ?? {};
    const configKey = this.#o.runtime.configKey(config);
    const never = this.#neverReason(descriptor, configKey, await this.#o.probe.read());
    if (never) throw new RoamError("quota_exceeded", never, { category: "resource" });
    this.#open();
    const row: JobRow = {
      id: crypto.randomUUID(),
      seq: this.store.nextSeq(),
      capability: request.capability,
      method: request.method,
      args: request.args ?? null,
      config,
      configKey,
      priority: request.priority ?? 5,
      timeoutMs: request.timeoutMs ?? null,
      status: "queued",
      attempts: 0,
      instanceId: null,
      result: undefined,
      error: null,
      remote: null,
      submittedBy: request.submittedBy ?? null,
      createdAt: Date.now(),
      startedAt: null,
      endedAt: null,
    };
    this.store.transaction(() => {
      this.store.insert(row);
      this.store.journal(row.id, "submitted", 0, {
        capability: row.capability,
        method: row.method,
        priority: row.priority,
        configKey,
        by: row.submittedBy,
      });
      this.#o.events?.append("job.submitted", {
        capability: row.capability,
        method: row.method,
        priority: row.priority,
      }, row.id);
    });
    const live = this.#track(row);
    const onProgress = request.onProgress;
    if (onProgress) live.listeners.add((progress) => onProgress(progress, row.id));
    this.#enqueue(live);
    // One admission pass first, so the caller learns its position and why it waits.
    await this.#schedule();
    return this.view(row.id)!;
  }

  /** Whether a job for `capability` with `config` is installed here and could start now. */
  async capacity(
    capability: string,
    config: unknown,
  ): Promise<{ installed: boolean; fits: boolean; never: boolean; reason: string | null }> {
    const descriptor = this.#o.runtime.get(capability);
    if (!descriptor) {
      return {
        installed: false,
        fits: false,
        never: true,
        reason: `${capability} is not installed`,
      };
    }
    const configKey = this.#o.runtime.configKey(config ?? {});
    const [system] = await Promise.all([this.#o.probe.read(), this.#measureAll()]);
    const never = this.#neverReason(descriptor, configKey, system);
    if (never) return { installed: true, fits: false, never: true, reason: never };
    if (this.#waiting.length > 0) {
      return {
        installed: true,
        fits: false,
        never: false,
        reason: `${this.#waiting.length} jobs wait here`,
      };
    }
    const decision = decide(this.#need(descriptor, configKey), this.#view(system));
    return decision.kind === "admit" || decision.kind === "evict"
      ? { installed: true, fits: true, never: false, reason: null }
      : { installed: true, fits: false, never: false, reason: decision.reason };
  }

  /** Jobs waiting here now. */
  get queued(): number {
    return this.#waiting.length;
  }

  /** A job as callers see it, or undefined. */
  view(id: string): JobView | undefined {
    const live = this.#live.get(id);
    const row = live?.row ?? this.store.get(id);
    if (!row) return undefined;
    const index = live ? this.#waiting.indexOf(live) : -1;
    return {
      id: row.id,
      capability: row.capability,
      method: row.method,
      configKey: row.configKey,
      priority: row.priority,
      status: row.status,
      attempts: row.attempts,
      position: index >= 0 ? index + 1 : null,
      reason: index >= 0 ? live!.reason ?? "waiting for its turn" : null,
      instanceId: row.instanceId,
      host: row.remote?.host ?? null,
      remoteId: row.remote?.id ?? null,
      createdAt: new Date(row.createdAt).toISOString(),
      startedAt: row.startedAt === null ? null : new Date(row.startedAt).toISOString(),
      endedAt: row.endedAt === null ? null : new Date(row.endedAt).toISOString(),
      ...(row.result === undefined ? {} : { result: row.result }),
      error: row.error,
      progress: live?.progress ?? null,
    };
  }

  /** The stored row of a job (forwarded jobs too), or undefined. */
  row(id: string): JobRow | undefined {
    return this.#live.get(id)?.row ?? this.store.get(id);
  }

  /** Jobs newest first. */
  list(filter: { status?: JobStatus; capability?: string; limit?: number } = {}): JobView[] {
    return this.store.list({ ...filter, limit: filter.limit ?? 100 }).map((r) => this.view(r.id)!)
      .filter(Boolean);
  }

  /**
   * Wait until a job has finished, at most `timeoutMs`; returns it as it is
   * then (check `status`). `not_found` for an unknown id.
   */
  async wait(id: string, timeoutMs: number, signal?: AbortSignal): Promise<JobView> {
    const live = this.#live.get(id);
    if (!live) return this.#known(id);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    await Promise.race([
      live.settled,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        onAbort = resolve;
        signal?.addEventListener("abort", onAbort);
      }),
    ]);
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
    return this.#known(id);
  }

  /** Hear a running job's progress; returns the function that stops it. */
  onProgress(id: string, listener: (progress: CallProgress) => void): () => void {
    const live = this.#live.get(id);
    if (!live) return () => {};
    live.listeners.add(listener);
    return () => live.listeners.delete(listener);
  }

  /**
   * Cancel a job: a queued one leaves the queue at once; a running one has
   * its call aborted (the signal reaches the capability's execute) and is
   * returned once it has stopped (at most 10 s). A finished job is returned
   * as it is.
   */
  async cancel(id: string, by: string | null = null): Promise<JobView> {
    const live = this.#live.get(id);
    if (!live) return this.#known(id);
    live.cancelledBy = by ?? "the caller";
    const index = this.#waiting.indexOf(live);
    if (index >= 0) {
      this.#waiting.splice(index, 1);
      this.#finish(live, "cancelled", {
        error: {
          code: "cancelled",
          message: `cancelled by ${live.cancelledBy} while queued`,
          category: null,
        },
      });
      this.#schedule();
    } else {
      live.abort.abort(new RoamError("cancelled", `cancelled by ${live.cancelledBy}`, {}));
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([live.settled, new Promise((r) => timer = setTimeout(r, 10_000))]);
      clearTimeout(timer);
    }
    return this.view(id)!;
  }

  /** What the queue admits against now: each pool's ledger, each instance, and the job counts. */
  async resources(): Promise<QueueResources> {
    const view = await this.snapshot();
    return {
      pools: view.pools.map((pool) => {
        const { budget, committed, outside, free } = ledger(view, pool);
        return {
          key: pool.key,
          label: pool.label,
          totalMb: pool.totalMb,
          usedMb: pool.usedMb,
          reserveMb: pool.reserveMb,
          outsideMb: outside,
          budgetMb: budget,
          committedMb: committed,
          freeMb: free,
        };
      }),
      instances: view.residents.map((r) => ({
        id: r.id,
        capability: r.capability,
        configKey: r.configKey,
        gpu: r.gpu,
        state: r.evicting ? "stopping" : r.starting ? "starting" : r.active > 0 ? "busy" : "idle",
        active: r.active,
        concurrency: r.concurrency,
        ramMb: r.ramMb,
        vramMb: r.vramMb,
        peakRamMb: r.peakRamMb,
        peakVramMb: r.peakVramMb,
        idleMs: r.active > 0 || r.starting ? 0 : Math.max(0, Date.now() - r.lastUsedAt),
      })),
      queued: this.#waiting.length,
      running: this.#live.size - this.#waiting.length,
    };
  }

  /** The admission view now (what instances hold, what the machine has). */
  async snapshot(): Promise<AdmissionView> {
    const [system] = await Promise.all([this.#o.probe.read(), this.#measureAll()]);
    return this.#view(system);
  }

  /**
   * Stop: no new jobs; running ones are aborted and recorded as interrupted
   * (failed); queued ones stay queued in the database and resume at the next
   * start. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#pollTimer);
    clearInterval(this.#idleTimer);
    for (const live of this.#live.values()) {
      if (!this.#waiting.includes(live)) {
        live.abort.abort(new RoamError("unavailable", "the host is stopping", {}));
      }
    }
    const running = [...this.#live.values()].filter((l) => !this.#waiting.includes(l));
    // Bounded: a runtime call that ignores its abort must not hold the host's stop forever
    // (such a job stays 'running' in the database and is failed as interrupted at the next start).
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise((r) => timer = setTimeout(r, 15_000));
    await Promise.race([
      (async () => {
        await Promise.all(running.map((l) => l.settled));
        while (this.#tasks.size) await Promise.allSettled([...this.#tasks]);
      })(),
      deadline,
    ]);
    clearTimeout(timer);
    for (const live of this.#waiting.splice(0)) live.settle();
    this.#live.clear();
  }

  // -------------------------------------------------------------------------

  #open() {
    if (this.#closed) throw new RoamError("unavailable", "the host is stopping", {});
  }

  #descriptor(capability: string): CapabilityDescriptor {
    const descriptor = this.#o.runtime.get(capability);
    if (!descriptor) {
      const known = this.#o.runtime.list().map((d) => d.name);
      throw new RoamError(
        "not_found",
        `no capability named "${capability}" on this host${
          known.length ? ` (it has ${known.join(", ")})` : ""
        }; install it with 'roam plugin install ${capability}', or run it on another host with --to`,
        { capability },
      );
    }
    return descriptor;
  }

  #known(id: string): JobView {
    const view = this.view(id);
    if (!view) {
      throw new RoamError("not_found", `no job ${id} on this host; list jobs with 'roam jobs ls'`, {
        id,
      });
    }
    return view;
  }

  #track(row: JobRow): Live {
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => settle = resolve);
    const live: Live = {
      row,
      abort: new AbortController(),
      reason: null,
      progress: null,
      listeners: new Set(),
      cancelledBy: null,
      settled,
      settle,
      needs: { ramMb: 0, vramMb: 0 },
    };
    this.#live.set(row.id, live);
    return live;
  }

  #enqueue(live: Live) {
    const before = (a: JobRow, b: JobRow) =>
      a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq);
    let i = this.#waiting.length;
    while (i > 0 && before(live.row, this.#waiting[i - 1].row)) i--;
    this.#waiting.splice(i, 0, live);
  }

  #need(descriptor: CapabilityDescriptor, configKey: string): Need {
    const learned = this.store.profile(descriptor.name, configKey);
    const declared = descriptor.resources;
    // A GPU capability measured at 0 VRAM was likely not measurable (containers): trust its manifest.
    const vramMb = learned && !(declared.gpu && learned.peakVramMb === 0)
      ? learned.peakVramMb
      : declared.vramMb;
    return {
      capability: descriptor.name,
      configKey,
      ramMb: learned?.peakRamMb ?? declared.ramMb,
      vramMb,
      gpu: declared.gpu || vramMb > 0,
      concurrency: Math.max(1, descriptor.concurrency),
      maxInstances: this.limits.maxInstances,
    };
  }

  #neverReason(d: CapabilityDescriptor, configKey: string, system: SystemResources) {
    const decision = decide(this.#need(d, configKey), {
      pools: this.#pools(system),
      residents: [],
    });
    return decision.kind === "never" ? decision.reason : null;
  }

  #pools(system: SystemResources): Pool[] {
    return [
      {
        key: "ram",
        label: "RAM",
        totalMb: system.ramTotalMb,
        usedMb: Math.max(0, system.ramTotalMb - system.ramAvailableMb),
        reserveMb: system.ramTotalMb > 0 ? this.limits.reserveRamMb : 0,
      },
      ...system.gpus.map((g) => ({
        key: `gpu${g.index}`,
        label: `VRAM on GPU ${g.index}`,
        totalMb: g.totalMb,
        usedMb: g.usedMb,
        reserveMb: this.limits.reserveVramMb,
      })),
    ];
  }

  #view(system: SystemResources): AdmissionView {
    const residents: Resident[] = [];
    const gpus = system.gpus.map((g) => `gpu${g.index}`);
    for (const instance of this.#o.runtime.instances()) {
      const descriptor = this.#o.runtime.get(instance.capability);
      const use = this.#usage.get(instance.id);
      const profile = this.store.profile(instance.capability, instance.configKey);
      const declared = descriptor?.resources ?? { ramMb: 0, vramMb: 0, gpu: false };
      let gpu = this.#gpuOf.get(instance.id) ?? null;
      if (!this.#gpuOf.has(instance.id) && gpus.length === 1 && (declared.gpu || use?.vramMb)) {
        gpu = gpus[0];
      }
      residents.push({
        id: instance.id,
        label: label(instance),
        capability: instance.capability,
        configKey: instance.configKey,
        gpu,
        active: Math.max(instance.active, this.#onInstance.get(instance.id) ?? 0),
        concurrency: Math.max(1, descriptor?.concurrency ?? 1),
        lastUsedAt: instance.lastUsedAt,
        ramMb: use?.ramMb ?? 0,
        vramMb: gpu ? use?.vramMb ?? 0 : 0,
        peakRamMb: profile?.peakRamMb ?? declared.ramMb,
        peakVramMb: gpu ? profile?.peakVramMb || declared.vramMb : 0,
        starting: false,
        evicting: this.#evicting.has(instance.id),
      });
    }
    for (const r of this.#starting.values()) residents.push({ ...r });
    return { pools: this.#pools(system), residents };
  }

  /** Run an admission pass (or have the running one go again); resolves when it is done. */
  #schedule(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#passing) {
      this.#again = true;
      return this.#pass;
    }
    this.#passing = true;
    const task = (async () => {
      try {
        do {
          this.#again = false;
          await this.#admit();
        } while (this.#again && !this.#closed);
      } catch (error) {
        this.#o.log?.(`roam: job queue: ${(error as Error)?.stack ?? error}`);
      } finally {
        this.#passing = false;
      }
    })();
    this.#pass = task;
    this.#keep(task);
    return task;
  }

  async #admit() {
    if (this.#waiting.length === 0) return;
    // Read the machine and roam's own use together, so that use outside roam is their difference.
    const [system] = await Promise.all([this.#o.probe.read(), this.#measureAll()]);
    if (this.#closed) return;
    const view = this.#view(system);
    let running = [...this.#live.values()].length - this.#waiting.length;
    const blocked = new Map<string, Live>();
    let poll = false;
    for (const live of [...this.#waiting]) {
      const row = live.row;
      const descriptor = this.#o.runtime.get(row.capability);
      if (!descriptor) {
        this.#dequeue(live);
        this.#finish(live, "failed", {
          error: {
            code: "not_found",
            message: `capability ${row.capability} was removed from this host while the job waited`,
            category: "fatal",
          },
        });
        continue;
      }
      if (running >= this.limits.maxRunning) {
        live.reason =
          `waiting for a free slot: ${running} jobs running (limit ${this.limits.maxRunning})`;
        continue;
      }
      const need = this.#need(descriptor, row.configKey);
      need.ramMb = Math.max(need.ramMb, live.needs.ramMb);
      need.vramMb = Math.max(need.vramMb, live.needs.vramMb);
      const decision = decide(need, view);
      if (decision.kind === "admit") {
        // Jobs ahead of it that wait for memory keep their claim on it: no overtaking there.
        const ahead = Object.entries(decision.adds).find(([pool, mb]) =>
          mb > 0 && blocked.has(pool)
        );
        if (ahead) {
          const first = blocked.get(ahead[0])!;
          live.reason = `waiting behind job ${first.row.id} (ahead of it in the queue) for ${
            view.pools.find((p) => p.key === ahead[0])?.label
          }`;
          continue;
        }
        this.#dequeue(live);
        const placeholder = {
          id: `starting-${++this.#placeholders}`,
          label: `${row.capability}#new`,
          capability: row.capability,
          configKey: row.configKey,
          concurrency: need.concurrency,
          lastUsedAt: Date.now(),
          ramMb: 0,
          vramMb: 0,
          peakRamMb: need.ramMb,
          peakVramMb: need.vramMb,
        };
        const resident = applyAdmission(view, need, decision, placeholder);
        running++;
        try {
          this.onAdmit?.(view, decision.adds);
        } catch (error) {
          this.#o.log?.(`roam: job queue onAdmit hook failed: ${(error as Error).message}`);
        }
        this.#launch(live, decision.reuse, resident, decision.adds);
      } else if (decision.kind === "never") {
        this.#dequeue(live);
        this.#finish(live, "failed", {
          error: { code: "quota_exceeded", message: decision.reason, category: "resource" },
        });
      } else {
        live.reason = decision.reason;
        for (const pool of decision.pools) if (!blocked.has(pool)) blocked.set(pool, live);
        if (decision.pools.length) poll = true;
        if (decision.kind === "evict") {
          for (const id of decision.victims) {
            const r = view.residents.find((x) => x.id === id);
            if (r) r.evicting = true;
            this.#evict(id, `to make room for job ${row.id}`);
          }
        }
      }
    }
    if (poll && !this.#pollTimer && !this.#closed) {
      this.#pollTimer = setTimeout(() => {
        this.#pollTimer = undefined;
        this.#schedule();
      }, this.limits.pollMs);
    }
  }

  #dequeue(live: Live) {
    const index = this.#waiting.indexOf(live);
    if (index >= 0) this.#waiting.splice(index, 1);
    live.reason = null;
  }

  #launch(
    live: Live,
    reuse: string | null,
    resident: Resident,
    adds: Record<string, number>,
  ) {
    const row = live.row;
    row.status = "running";
    row.attempts++;
    row.startedAt ??= Date.now();
    row.error = null;
    this.store.transaction(() => {
      this.store.update(row);
      this.store.journal(row.id, "admitted", row.attempts, {
        instance: reuse ?? "new",
        gpu: resident.gpu,
        reservedMb: adds,
      });
    });
    if (reuse) this.#count(reuse, +1);
    else this.#starting.set(resident.id, resident);
    this.#keep(this.#run(live, reuse, resident));
  }

  async #run(live: Live, reuse: string | null, resident: Resident) {
    const row = live.row;
    const attempt = row.attempts;
    const began = performance.now();
    let instance: CapabilityInstance | undefined;
    let counted: string | null = reuse;
    try {
      instance = await this.#o.runtime.instance(row.capability, row.config, {
        signal: live.abort.signal,
        ...(resident.gpu ? { gpu: Number(resident.gpu.slice("gpu".length)) } : {}),
      });
      if (!reuse) {
        this.#starting.delete(resident.id);
        if (!this.#gpuOf.has(instance.id)) this.#gpuOf.set(instance.id, resident.gpu);
      }
      if (counted !== instance.id) {
        if (counted) this.#count(counted, -1);
        counted = instance.id;
        this.#count(counted, +1);
      }
      row.instanceId = instance.id;
      const instanceId = instance.id;
      this.store.transaction(() => {
        this.store.update(row);
        this.store.journal(row.id, "attempt_started", attempt, { instance: instanceId });
      });
      live.abort.signal.throwIfAborted();
      const result = await instance.execute(row.method, row.args, {
        signal: live.abort.signal,
        timeoutMs: row.timeoutMs ?? undefined,
        onProgress: (progress) => {
          live.progress = progress;
          for (const listener of live.listeners) {
            try {
              listener(progress);
            } catch { /* a listener's failure is its own */ }
          }
        },
      });
      const size = JSON.stringify(result ?? null).length;
      if (size > this.limits.maxResultBytes) {
        throw new RoamError(
          "too_large",
          `the result of ${row.capability}.${row.method} is ${size} bytes of JSON, over the queue's limit of ${this.limits.maxResultBytes}; return a smaller result (for example an artifact id)`,
          { size, limit: this.limits.maxResultBytes, category: "user_input" },
        );
      }
      const ms = Math.round(performance.now() - began);
      this.store.transaction(() => {
        this.store.journal(row.id, "attempt_ended", attempt, { outcome: "succeeded", ms });
        this.#finish(live, "succeeded", { result: result ?? null });
      });
      await this.#measure(instance, true);
    } catch (thrown) {
      if (!reuse) this.#starting.delete(resident.id);
      const error = jobError(thrown);
      const ms = Math.round(performance.now() - began);
      this.store.journal(row.id, "attempt_ended", attempt, {
        outcome: "failed",
        ms,
        code: error.code,
        category: error.category,
        message: error.message.slice(0, 500),
      });
      if (live.cancelledBy) {
        this.#finish(live, "cancelled", {
          error: { code: "cancelled", message: `cancelled by ${live.cancelledBy}`, category: null },
        });
      } else if (this.#closed) {
        this.#finish(live, "failed", {
          error: {
            code: "unavailable",
            message:
              `interrupted: the host stopped during attempt ${attempt}; submit the job again`,
            category: "transient",
          },
        });
      } else if (
        error.category && RETRYABLE.has(error.category) && error.data?.cancelled !== true &&
        attempt < MAX_ATTEMPTS
      ) {
        const shortfall = shortfallOf(error);
        if (shortfall) {
          live.needs = {
            ramMb: Math.max(live.needs.ramMb, shortfall.ramMb),
            vramMb: Math.max(live.needs.vramMb, shortfall.vramMb),
          };
        }
        this.store.journal(row.id, "retry", attempt, {
          after: error.code,
          category: error.category,
          next: attempt + 1,
          ...(shortfall ? { reserveMb: live.needs } : {}),
        });
        this.#o.log?.(
          `roam: job ${row.id} (${row.capability}.${row.method}) failed with a ${error.category} error (${error.message}); retrying once`,
        );
        row.status = "queued";
        row.instanceId = null;
        this.store.update(row);
        this.#enqueue(live);
      } else {
        this.#finish(live, "failed", { error });
      }
      if (instance) {
        // A worker that ran out of memory may hold a fragmented allocator: start the retry afresh.
        const stop = error.category === "resource" && instance.active === 0;
        await this.#measure(instance, false);
        if (stop) await this.#stopInstance(instance, `a ${error.category} error in job ${row.id}`);
      }
    } finally {
      if (counted) this.#count(counted, -1);
      // Should recording the end have failed (a closed database), waiters still hear of it.
      if (row.status === "running") live.settle();
      this.#schedule();
    }
  }

  /** Measure every instance now (at most 2 s each; a failed one keeps its last figures). */
  async #measureAll() {
    const instances = this.#o.runtime.instances();
    // Forget instances that are gone (stopped, or died and were replaced).
    const alive = new Set(instances.map((i) => i.id));
    for (const id of this.#usage.keys()) if (!alive.has(id)) this.#usage.delete(id);
    for (const id of this.#gpuOf.keys()) if (!alive.has(id)) this.#gpuOf.delete(id);
    await Promise.all(
      instances.map(async (instance) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        try {
          const use = await Promise.race([
            instance.measure(),
            new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), 2_000)),
          ]);
          if (use) this.#usage.set(instance.id, use);
        } catch {
          // Gone or failing: its last figures stand until it is.
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  }

  async #measure(instance: CapabilityInstance, learn: boolean) {
    try {
      const use = await instance.measure();
      this.#usage.set(instance.id, use);
      if (learn) {
        this.store.learn(instance.capability, instance.configKey, use.peakRamMb, use.peakVramMb);
      }
    } catch (error) {
      this.#o.log?.(`roam: cannot measure ${instance.id}: ${(error as Error).message}`);
    }
  }

  #count(instanceId: string, delta: number) {
    const next = (this.#onInstance.get(instanceId) ?? 0) + delta;
    if (next <= 0) this.#onInstance.delete(instanceId);
    else this.#onInstance.set(instanceId, next);
  }

  #finish(live: Live, status: JobStatus, outcome: { result?: unknown; error?: JobError }) {
    const row = live.row;
    row.status = status;
    row.endedAt = Date.now();
    row.result = outcome.result;
    row.error = outcome.error ?? null;
    this.store.update(row);
    this.store.journal(row.id, status === "cancelled" ? "cancelled" : "finished", row.attempts, {
      status,
      ...(row.error ? { code: row.error.code, category: row.error.category } : {}),
    });
    this.#o.events?.append("job.finished", {
      status,
      capability: row.capability,
      method: row.method,
      attempts: row.attempts,
      ...(row.error ? { error: row.error.code } : {}),
    }, row.id);
    this.#live.delete(row.id);
    live.listeners.clear();
    live.settle();
    if (row.seq % 100 === 0) this.store.prune(this.limits.retainFinished);
  }

  #evict(instanceId: string, why: string) {
    const instance = this.#o.runtime.instances().find((i) => i.id === instanceId);
    if (!instance || this.#evicting.has(instanceId)) return;
    this.#evicting.add(instanceId);
    this.#o.log?.(`roam: evicting idle ${label(instance)} ${why}`);
    this.#o.events?.append(
      "capability.evicted",
      { instance: instanceId, why },
      instance.capability,
    );
    this.#keep(
      this.#stopInstance(instance, `evicted ${why}`).finally(() => {
        this.#evicting.delete(instanceId);
        this.#schedule();
      }),
    );
  }

  async #stopInstance(instance: CapabilityInstance, reason: string) {
    try {
      await instance.stop(reason);
    } catch (error) {
      this.#o.log?.(`roam: stopping ${instance.id} failed: ${(error as Error).message}`);
    }
    this.#usage.delete(instance.id);
    this.#gpuOf.delete(instance.id);
  }

  #evictIdle() {
    const now = Date.now();
    for (const instance of this.#o.runtime.instances()) {
      const busy = instance.active > 0 || (this.#onInstance.get(instance.id) ?? 0) > 0;
      if (busy || this.#evicting.has(instance.id)) continue;
      if (now - instance.lastUsedAt < this.limits.idleMs) continue;
      this.#evicting.add(instance.id);
      this.#keep(
        this.#stopInstance(instance, `idle for ${Math.round((now - instance.lastUsedAt) / 1000)} s`)
          .finally(() => this.#evicting.delete(instance.id)),
      );
    }
  }

  #keep(task: Promise<unknown>) {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task)).catch(() => {});
  }
}

/** A short name for an instance in reasons: `echo-py#1a2b3c`. */
export function label(instance: { id: string; capability: string }): string {
  return instance.id.startsWith(instance.capability)
    ? instance.id
    : `${instance.capability}#${instance.id.slice(0, 6)}`;
}

/** A thrown value as a job's error, keeping the runtime's category. */
export function jobError(thrown: unknown): JobError {
  if (thrown instanceof RoamError) {
    const data = (thrown.data ?? {}) as Record<string, unknown>;
    const category = typeof data.category === "string"
      ? data.category as JobError["category"]
      : thrown.code === "cancelled"
      ? null
      : "fatal";
    return { code: thrown.code, message: thrown.message, category, data };
  }
  return {
    code: "internal",
    message: (thrown as Error)?.message ?? String(thrown),
    category: "fatal",
  };
}

/**
 * What a worker's `shortfall` (`{resource, needed, available}`, MB) asks the
 * retry to reserve: VRAM for a resource named like `vram` or `gpu`, RAM for
 * one named like `ram` or `mem`; undefined without one.
 */
export function shortfallOf(error: JobError): { ramMb: number; vramMb: number } | undefined {
  const s = error.data?.shortfall as { resource?: unknown; needed?: unknown } | undefined;
  if (!s || typeof s.resource !== "string" || typeof s.needed !== "number") return undefined;
  if (!Number.isFinite(s.needed) || s.needed <= 0) return undefined;
  const needed = Math.ceil(s.needed);
  if (/vram|gpu/i.test(s.resource)) return { ramMb: 0, vramMb: needed };
  if (/ram|mem/i.test(s.resource)) return { ramMb: needed, vramMb: 0 };
  return undefined;
}
