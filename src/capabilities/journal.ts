/**
 * The job queue's durable state in the host database: each job's record,
 * an append-only journal of everything that happened to it (every attempt's
 * start and end, retries, evictions, cancellation, recovery), and the peak
 * RAM and VRAM learned for each (capability, config).
 *
 * @module
 */
import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import type { ErrorCategory } from "./contract.ts";
import { transaction } from "../store/transaction.ts";

/** Where a job stands. */
export type JobStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";

/** Statuses a job never leaves. */
export const TERMINAL: ReadonlySet<JobStatus> = new Set(["succeeded", "failed", "cancelled"]);

/** A job's failure, as kept and shown. */
export interface JobError {
  /** A roam error code (`invalid_input`, `crashed`, `quota_exceeded`, ...). */
  code: string;
  /** What happened, for people. */
  message: string;
  /** Whether a retry could help, as the capability runtime said. */
  category: ErrorCategory | null;
  /** Structured detail. */
  data?: Record<string, unknown>;
}

/** Where a forwarded job runs. */
export interface RemoteRef {
  /** The other host's URL. */
  url: string;
  /** Its name, when known. */
  host: string;
  /** The job's id there. */
  id: string;
}

/** A job as stored. */
export interface JobRow {
  id: string;
  seq: number;
  capability: string;
  method: string;
  args: unknown;
  config: unknown;
  configKey: string;
  priority: number;
  timeoutMs: number | null;
  status: JobStatus;
  attempts: number;
  instanceId: string | null;
  result: unknown;
  error: JobError | null;
  remote: RemoteRef | null;
  submittedBy: string | null;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
}

/** One journal line. */
export interface JournalEntry {
  /** Increasing over the whole journal. */
  seq: number;
  /** When (ms since epoch). */
  ts: number;
  /** `submitted`, `admitted`, `attempt_started`, `attempt_ended`, `retry`, `evicted`, `cancelled`, `recovered`, `forwarded`, `finished`. */
  event: string;
  /** Which attempt it belongs to (0 before the first). */
  attempt: number;
  /** Detail. */
  data: Record<string, unknown>;
}

/** A learned peak. */
export interface Profile {
  /** Highest RAM seen, MB. */
  peakRamMb: number;
  /** Highest VRAM seen, MB. */
  peakVramMb: number;
  /** Successful runs it was learned from. */
  samples: number;
}

type Row = Record<string, SQLInputValue>;
type Statement = ReturnType<DatabaseSync["prepare"]>;

/** Jobs, their journal and learned peaks, in the host database. */
export class JobStore {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, Statement>();
  #seq: number | undefined;

  /** Use the host database (migration `capabilities` applied). */
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** A prepared statement, compiled once per SQL text. */
  #sql(text: string): Statement {
    let statement = this.#statements.get(text);
    if (!statement) {
      statement = this.#db.prepare(text);
      this.#statements.set(text, statement);
    }
    return statement;
  }

  /**
   * Run `fn` in one transaction (fewer commits, a smaller write-ahead log);
   * inside another one it simply runs.
   */
  transaction<T>(fn: () => T): T {
    return transaction(this.#db, fn);
  }

  /** The next submission sequence number (FIFO order within a priority, across restarts). */
  nextSeq(): number {
    if (this.#seq === undefined) {
      const row = this.#sql("SELECT MAX(seq) AS s FROM capability_jobs").get() as Row;
      this.#seq = Number(row?.s ?? 0);
    }
    return ++this.#seq;
  }

  /** Store a new job. */
  insert(job: JobRow): void {
    this.#sql(
      `INSERT INTO capability_jobs (id, seq, capability, method, args, config, config_key, priority,
        timeout_ms, status, attempts, instance_id, result, error, remote, submitted_by, created_at,
        started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      job.id,
      job.seq,
      job.capability,
      job.method,
      JSON.stringify(job.args ?? null),
      JSON.stringify(job.config ?? null),
      job.configKey,
      job.priority,
      job.timeoutMs,
      job.status,
      job.attempts,
      job.instanceId,
      job.result === undefined ? null : JSON.stringify(job.result),
      job.error ? JSON.stringify(job.error) : null,
      job.remote ? JSON.stringify(job.remote) : null,
      job.submittedBy,
      job.createdAt,
      job.startedAt,
      job.endedAt,
    );
  }

  /** Write a job's changing fields. */
  update(job: JobRow): void {
    this.#sql(
      `UPDATE capability_jobs SET status = ?, attempts = ?, instance_id = ?, result = ?, error = ?,
        remote = ?, started_at = ?, ended_at = ? WHERE id = ?`,
    ).run(
      job.status,
      job.attempts,
      job.instanceId,
      job.result === undefined ? null : JSON.stringify(job.result),
      job.error ? JSON.stringify(job.error) : null,
      job.remote ? JSON.stringify(job.remote) : null,
      job.startedAt,
      job.endedAt,
      job.id,
    );
  }

  /** One job, or undefined. */
  get(id: string): JobRow | undefined {
    const row = this.#sql("SELECT * FROM capability_jobs WHERE id = ?").get(id) as
      | Row
      | undefined;
    return row ? toJob(row) : undefined;
  }

  /** Ids of jobs that start with `prefix` (letters, digits and '-' only), at most `limit`. */
  idsStartingWith(prefix: string, limit = 2): string[] {
    if (!/^[A-Za-z0-9-]+$/.test(prefix)) return [];
    return (this.#sql(
      "SELECT id FROM capability_jobs WHERE id LIKE ? ORDER BY seq DESC LIMIT ?",
    ).all(`${prefix}%`, limit) as Row[]).map((r) => String(r.id));
  }

  /** Jobs, newest first, optionally by status and capability. */
  list(filter: { status?: JobStatus; capability?: string; limit: number }): JobRow[] {
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    if (filter.status) {
      where.push("status = ?");
      params.push(filter.status);
    }
    if (filter.capability) {
      where.push("capability = ?");
      params.push(filter.capability);
    }
    const sql = `SELECT * FROM capability_jobs ${
      where.length ? `WHERE ${where.join(" AND ")}` : ""
    } ORDER BY seq DESC LIMIT ?`;
    return (this.#sql(sql).all(...params, filter.limit) as Row[]).map(toJob);
  }

  /** Jobs not finished, in queue order (priority, then submission). */
  unfinished(): JobRow[] {
    return (this.#sql(
      "SELECT * FROM capability_jobs WHERE status IN ('queued', 'running') ORDER BY priority DESC, seq",
    ).all() as Row[]).map(toJob);
  }

  /** Append to a job's journal. */
  journal(jobId: string, event: string, attempt: number, data: Record<string, unknown> = {}): void {
    this.#sql(
      "INSERT INTO capability_job_journal (job_id, ts, event, attempt, data) VALUES (?, ?, ?, ?, ?)",
    ).run(jobId, Date.now(), event, attempt, JSON.stringify(data));
  }

  /** A job's journal, oldest first. */
  entries(jobId: string, limit = 1000): JournalEntry[] {
    return (this.#sql(
      "SELECT seq, ts, event, attempt, data FROM capability_job_journal WHERE job_id = ? ORDER BY seq LIMIT ?",
    ).all(jobId, limit) as Row[]).map((r) => ({
      seq: Number(r.seq),
      ts: Number(r.ts),
      event: String(r.event),
      attempt: Number(r.attempt),
      data: JSON.parse(String(r.data)),
    }));
  }

  /** Drop the oldest finished jobs (and their journal) beyond `keep`. Returns how many went. */
  prune(keep: number): number {
    const cutoff = this.#sql(
      `SELECT seq FROM capability_jobs WHERE status IN ('succeeded', 'failed', 'cancelled')
        ORDER BY seq DESC LIMIT 1 OFFSET ?`,
    ).get(keep) as Row | undefined;
    if (!cutoff) return 0;
    const finished = "status IN ('succeeded', 'failed', 'cancelled') AND seq <= ?";
    this.#sql(
      `DELETE FROM capability_job_journal WHERE job_id IN (SELECT id FROM capability_jobs WHERE ${finished})`,
    ).run(cutoff.seq);
    return Number(
      this.#sql(`DELETE FROM capability_jobs WHERE ${finished}`).run(cutoff.seq).changes,
    );
  }

  /** The learned peak of (capability, config), or undefined before its first successful run. */
  profile(capability: string, configKey: string): Profile | undefined {
    const row = this.#sql(
      "SELECT peak_ram_mb, peak_vram_mb, samples FROM capability_profiles WHERE capability = ? AND config_key = ?",
    ).get(capability, configKey) as Row | undefined;
    return row
      ? {
        peakRamMb: Number(row.peak_ram_mb),
        peakVramMb: Number(row.peak_vram_mb),
        samples: Number(row.samples),
      }
      : undefined;
  }

  /**
   * Raise the learned peak of (capability, config) to what a successful run
   * used; written only when it is new or higher (`samples` counts the runs
   * that set it).
   */
  learn(capability: string, configKey: string, peakRamMb: number, peakVramMb: number): Profile {
    const known = this.profile(capability, configKey);
    if (
      known && Math.ceil(peakRamMb) <= known.peakRamMb && Math.ceil(peakVramMb) <= known.peakVramMb
    ) {
      return known;
    }
    this.#sql(
      `INSERT INTO capability_profiles (capability, config_key, peak_ram_mb, peak_vram_mb, samples, updated_at)
        VALUES (?, ?, ?, ?, 1, ?)
        ON CONFLICT (capability, config_key) DO UPDATE SET
          peak_ram_mb = MAX(peak_ram_mb, excluded.peak_ram_mb),
          peak_vram_mb = MAX(peak_vram_mb, excluded.peak_vram_mb),
          samples = samples + 1, updated_at = excluded.updated_at`,
    ).run(capability, configKey, Math.ceil(peakRamMb), Math.ceil(peakVramMb), Date.now());
    return this.profile(capability, configKey)!;
  }
}

function toJob(r: Row): JobRow {
  const json = (v: SQLInputValue) => v === null || v === undefined ? null : JSON.parse(String(v));
  const num = (v: SQLInputValue) => v === null || v === undefined ? null : Number(v);
  return {
    id: String(r.id),
    seq: Number(r.seq),
    capability: String(r.capability),
    method: String(r.method),
    args: json(r.args),
    config: json(r.config),
    configKey: String(r.config_key),
    priority: Number(r.priority),
    timeoutMs: num(r.timeout_ms),
    status: String(r.status) as JobStatus,
    attempts: Number(r.attempts),
    instanceId: r.instance_id === null ? null : String(r.instance_id),
    result: r.result === null ? undefined : JSON.parse(String(r.result)),
    error: json(r.error),
    remote: json(r.remote),
    submittedBy: r.submitted_by === null ? null : String(r.submitted_by),
    createdAt: Number(r.created_at),
    startedAt: num(r.started_at),
    endedAt: num(r.ended_at),
  };
}
