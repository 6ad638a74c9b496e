import type { Migration } from "../migrate.ts";

/**
 * Capabilities: the job queue's jobs, the journal of every attempt, and the
 * peak RAM and VRAM learned for each (capability, config); and the worker
 * process groups the runtime started (swept at the next start after a crash).
 */
export const capabilities: Migration = {
  version: 8,
  name: "capabilities",
  sql: `
    -- runtime (caps helper): begin
    -- worker process groups this host started, swept at the next start after a crash
    CREATE TABLE capability_processes (
      pid         INTEGER PRIMARY KEY,
      started     TEXT NOT NULL,
      capability  TEXT NOT NULL,
      instance_id TEXT NOT NULL,
      created_at  INTEGER NOT NULL
    ) STRICT;
    -- runtime (caps helper): end
    -- jobs (queue helper): begin
    CREATE TABLE capability_jobs (
      id          TEXT PRIMARY KEY,
      seq         INTEGER NOT NULL,
      capability  TEXT NOT NULL,
      method      TEXT NOT NULL,
      args        TEXT NOT NULL,
      config      TEXT NOT NULL,
      config_key  TEXT NOT NULL,
      priority    INTEGER NOT NULL,
      timeout_ms  INTEGER,
      status      TEXT NOT NULL
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
      attempts    INTEGER NOT NULL DEFAULT 0,
      instance_id TEXT,
      result      TEXT,
      error       TEXT,
      remote      TEXT,
      submitted_by TEXT,
      created_at  INTEGER NOT NULL,
      started_at  INTEGER,
      ended_at    INTEGER
    ) STRICT;
    CREATE INDEX capability_jobs_status ON capability_jobs (status, priority, seq);
    CREATE INDEX capability_jobs_ended ON capability_jobs (ended_at);
    CREATE TABLE capability_job_journal (
      seq      INTEGER PRIMARY KEY AUTOINCREMENT,
      job_id   TEXT NOT NULL,
      ts       INTEGER NOT NULL,
      event    TEXT NOT NULL,
      attempt  INTEGER NOT NULL,
      data     TEXT NOT NULL
    ) STRICT;
    CREATE INDEX capability_job_journal_job ON capability_job_journal (job_id, seq);
    CREATE TABLE capability_profiles (
      capability   TEXT NOT NULL,
      config_key   TEXT NOT NULL,
      peak_ram_mb  INTEGER NOT NULL,
      peak_vram_mb INTEGER NOT NULL,
      samples      INTEGER NOT NULL,
      updated_at   INTEGER NOT NULL,
      PRIMARY KEY (capability, config_key)
    ) STRICT;
    -- jobs (queue helper): end
  `,
};
