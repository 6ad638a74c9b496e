/**
 * Jobs as callers use them: the local queue, plus forwarding to another host
 * of the mesh when asked (`to`) or when this host lacks the capability or
 * could never fit it. A forwarded job keeps a local record that points at
 * the other host, so `job.get`, `job.wait` and `job.cancel` work from here.
 *
 * @module
 */
import { ERROR_CODES, type ErrorCode, isRoamError, RoamError } from "../errors/mod.ts";
import type { CallProgress } from "./contract.ts";
import { type JobRow, type JobStatus, type JournalEntry, TERMINAL } from "./journal.ts";
import type { JobQueue, JobView } from "./queue.ts";
import type { JobTarget, RemoteJobs } from "./remote.ts";

/** What `job.submit` and `capability.call` take. */
export interface SubmitParams {
  capability: string;
  method: string;
  args?: unknown;
  config?: unknown;
  priority?: number;
  timeoutMs?: number;
  /** A host name, id or URL to run it on. */
  to?: string;
  /** Run here or fail: never forward. */
  local?: boolean;
}

/** Options of {@linkcode Jobs.call}. */
export interface CallOptions {
  /** Who asks (a token subject or `agent:ID`). */
  by?: string | null;
  /** Aborting cancels the job. */
  signal?: AbortSignal;
  /** Progress of the running call (local jobs), with its job's id. */
  onProgress?: (progress: CallProgress, jobId: string) => void;
}

/** How often the progress of a forwarded job is asked of its host, ms. */
const PROGRESS_POLL_MS = 250;

/** The longest one wait on a forwarded job's host, ms; longer waits loop. */
const REMOTE_WAIT_SLICE_MS = 60_000;

/** The job methods over the local queue and the mesh; see the module docs. */
export class Jobs {
  /** This host's queue. */
  readonly queue: JobQueue;
  readonly #remote?: RemoteJobs;

  /** Jobs on `queue`, forwarded through `remote` when there is a mesh. */
  constructor(queue: JobQueue, remote?: RemoteJobs) {
    this.queue = queue;
    this.#remote = remote;
  }

  /** Queue a job here or on another host; see `job.submit`. */
  async submit(
    params: SubmitParams,
    by: string | null = null,
    onProgress?: CallOptions["onProgress"],
  ): Promise<JobView> {
    if (params.to && !params.local) {
      const target = this.#remoteJobs().target(params.to);
      if (target) return await this.#forward(target, params, by);
    }
    // No room here now (it would wait) and a peer could start it at once: run it there.
    if (!params.local && !params.to && this.#remote?.hasPeers()) {
      const here = await this.queue.capacity(params.capability, params.config);
      if (here.installed && !here.fits && !here.never) {
        const { target, fits } = await this.#remote.choose(params.capability, params.config);
        if (target && fits) return await this.#forward(target, params, by);
      }
    }
    try {
      return await this.queue.submit({ ...params, submittedBy: by, onProgress });
    } catch (error) {
      const missing = isRoamError(error, "not_found") && error.data.capability !== undefined;
      const never = isRoamError(error, "quota_exceeded");
      if (params.local || params.to || !this.#remote || !(missing || never)) throw error;
      const { target, answers } = await this.#remote.choose(params.capability, params.config);
      if (target) return await this.#forward(target, params, by);
      const e = error as RoamError;
      throw new RoamError(
        e.code,
        `${e.message}${
          answers.length ? `; no other host can run it either (${answers.join("; ")})` : ""
        }`,
        { ...e.data, peers: answers },
      );
    }
  }

  /** A job now (a forwarded one as its host says), optionally with its journal; `ref` is its id or its start. */
  async get(ref: string, journal = false): Promise<JobView & { journal?: JournalEntry[] }> {
    const row = this.#row(ref);
    const id = row.id;
    const view = row.remote && !TERMINAL.has(row.status)
      ? await this.#refresh(row, () => this.#remoteJobs().get(row.remote!.url, row.remote!.id))
      : this.queue.view(id)!;
    return journal ? { ...view, journal: this.queue.store.entries(id) } : view;
  }

  /** Wait until a job has finished, at most `timeoutMs`. */
  async wait(ref: string, timeoutMs: number, signal?: AbortSignal): Promise<JobView> {
    const row = this.#row(ref);
    const id = row.id;
    if (!row.remote) return await this.queue.wait(id, timeoutMs, signal);
    if (TERMINAL.has(row.status)) return this.queue.view(id)!;
    return await this.#refresh(
      row,
      () => this.#remoteJobs().wait(row.remote!.url, row.remote!.id, timeoutMs, signal),
    );
  }

  /** Cancel a job (on its host when forwarded). */
  async cancel(ref: string, by: string | null = null): Promise<JobView> {
    const row = this.#row(ref);
    const id = row.id;
    if (!row.remote) return await this.queue.cancel(id, by);
    if (TERMINAL.has(row.status)) return this.queue.view(id)!;
    return await this.#refresh(
      row,
      () => this.#remoteJobs().cancel(row.remote!.url, row.remote!.id),
    );
  }

  /** Jobs newest first. */
  list(filter: { status?: JobStatus; capability?: string; limit?: number } = {}): JobView[] {
    return this.queue.list(filter);
  }

  /**
   * Submit and wait: the result, or the job's error thrown as a RoamError
   * (its code, message and category, with `data.jobId`). Aborting `signal`
   * cancels the job.
   */
  async call(
    params: SubmitParams,
    options: CallOptions = {},
  ): Promise<{ jobId: string; host: string | null; result: unknown }> {
    const job = await this.submit(params, options.by ?? null, options.onProgress);
    const onAbort = () => void this.cancel(job.id, options.by ?? null).catch(() => {});
    options.signal?.addEventListener("abort", onAbort);
    const relay = job.host && options.onProgress
      ? this.#relayProgress(job.id, options.onProgress)
      : undefined;
    try {
      let view = job;
      while (!TERMINAL.has(view.status)) {
        if (options.signal?.aborted) {
          throw new RoamError("cancelled", `the call was cancelled; job ${job.id} is cancelled`, {
            jobId: job.id,
          });
        }
        view = await this.wait(job.id, REMOTE_WAIT_SLICE_MS, options.signal);
      }
      if (view.status === "succeeded") {
        return { jobId: view.id, host: view.host, result: view.result ?? null };
      }
      const error = view.error ?? { code: "internal", message: "the job failed", category: null };
      throw new RoamError(
        (error.code in ERROR_CODES ? error.code : "internal") as ErrorCode,
        error.message,
        {
          ...error.data,
          jobId: view.id,
          category: error.category,
          attempts: view.attempts,
          ...(view.host ? { host: view.host } : {}),
        },
      );
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      await relay?.stop();
    }
  }

  /**
   * A forwarded job's progress, asked of its host every {@linkcode PROGRESS_POLL_MS}
   * and passed on when it changed (the latest report, not every one).
   */
  #relayProgress(id: string, onProgress: NonNullable<CallOptions["onProgress"]>) {
    const row = this.#row(id);
    let last = "null";
    let asking: Promise<void> | undefined;
    const ask = async () => {
      try {
        const there = await this.#remoteJobs().get(row.remote!.url, row.remote!.id);
        const text = JSON.stringify(there.progress ?? null);
        if (there.progress && text !== last) onProgress(there.progress, id);
        last = text;
      } catch {
        // The wait reports a host that does not answer; progress is best effort.
      } finally {
        asking = undefined;
      }
    };
    const timer = setInterval(() => {
      if (!asking && row.remote) asking = ask();
    }, PROGRESS_POLL_MS);
    return {
      stop: async () => {
        clearInterval(timer);
        await asking;
      },
    };
  }

  /** Whether this host could start a job now (for peers choosing a host). */
  async capacity(capability: string, config: unknown) {
    return { ...await this.queue.capacity(capability, config), queued: this.queue.queued };
  }

  #row(id: string): JobRow {
    const row = this.queue.row(id) ?? this.#byPrefix(id);
    if (!row) {
      throw new RoamError("not_found", `no job ${id} on this host; list jobs with 'roam jobs ls'`, {
        id,
      });
    }
    return row;
  }

  /** A job named by the start of its id (as `roam jobs ls` shows it), when only one matches. */
  #byPrefix(prefix: string): JobRow | undefined {
    if (prefix.length < 4) return undefined;
    const ids = this.queue.store.idsStartingWith(prefix);
    if (ids.length > 1) {
      throw new RoamError(
        "invalid_input",
        `more than one job id starts with ${prefix}; give more of it`,
        { prefix },
      );
    }
    return ids.length ? this.queue.row(ids[0]) : undefined;
  }

  #remoteJobs(): RemoteJobs {
    if (!this.#remote) {
      throw new RoamError("unsupported", "this host has no mesh to forward jobs through", {});
    }
    return this.#remote;
  }

  async #forward(target: JobTarget, params: SubmitParams, by: string | null): Promise<JobView> {
    const { to: _to, local: _local, ...rest } = params;
    const there = await this.#remoteJobs().submit(target, rest);
    const row: JobRow = {
      id: crypto.randomUUID(),
      seq: this.queue.store.nextSeq(),
      capability: params.capability,
      method: params.method,
      args: null, // kept where it runs
      config: params.config ?? {},
      configKey: there.configKey,
      priority: there.priority,
      timeoutMs: params.timeoutMs ?? null,
      status: there.status,
      attempts: there.attempts,
      instanceId: there.instanceId,
      result: there.result,
      error: there.error,
      remote: { url: target.url, host: target.name, id: there.id },
      submittedBy: by,
      createdAt: Date.now(),
      startedAt: there.startedAt ? Date.parse(there.startedAt) : null,
      endedAt: there.endedAt ? Date.parse(there.endedAt) : null,
    };
    this.queue.store.insert(row);
    this.queue.store.journal(row.id, "forwarded", 0, {
      host: target.name,
      url: target.url,
      remoteId: there.id,
      by,
    });
    return { ...this.queue.view(row.id)!, position: there.position, reason: there.reason };
  }

  /** Ask the job's host, record what it says here, and return it with this host's id. */
  async #refresh(row: JobRow, ask: () => Promise<JobView>): Promise<JobView> {
    let there: JobView;
    try {
      there = await ask();
    } catch (error) {
      if (isRoamError(error, "not_found")) {
        row.status = "failed";
        row.endedAt = Date.now();
        row.error = {
          code: "not_found",
          message: `host ${row.remote!.host} no longer knows job ${row.remote!.id}`,
          category: "fatal",
        };
        this.queue.store.update(row);
        return this.queue.view(row.id)!;
      }
      throw new RoamError(
        "unavailable",
        `job ${row.id} runs on host ${row.remote!.host}, which does not answer: ${
          (error as Error).message
        }`,
        { id: row.id, host: row.remote!.host },
      );
    }
    const changed = there.status !== row.status || there.attempts !== row.attempts;
    row.status = there.status;
    row.attempts = there.attempts;
    row.instanceId = there.instanceId;
    row.result = there.result;
    row.error = there.error;
    row.startedAt = there.startedAt ? Date.parse(there.startedAt) : null;
    row.endedAt = there.endedAt ? Date.parse(there.endedAt) : null;
    if (changed) this.queue.store.update(row);
    if (changed && TERMINAL.has(row.status)) {
      this.queue.store.journal(row.id, "finished", row.attempts, {
        status: row.status,
        host: row.remote!.host,
      });
    }
    return {
      ...this.queue.view(row.id)!,
      position: there.position,
      reason: there.reason,
      progress: there.progress,
    };
  }
}
