import { z } from "zod";
import { defineMethod } from "../rpc/mod.ts";

const CapabilityName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, {
  message: "a capability name is 1 to 64 of a-z 0-9 . _ - starting with a letter or digit",
});
const MethodName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/, {
  message: "a method name is 1 to 128 of A-Z a-z 0-9 _ . : - starting with a letter or _",
});
const JobId = z.string().min(1).max(64).describe("a job id");
const Priority = z.number().int().min(0).max(100).describe(
  "higher runs first (0 to 100, default 5); first in, first out within a priority",
);
const HostRef = z.string().min(1).max(256).describe(
  "run it on this host of the mesh (a name, an id or a URL)",
);

const Status = z.enum(["queued", "running", "succeeded", "failed", "cancelled"]);

/** A job's failure. */
export const JobErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  category: z.enum(["user_input", "transient", "resource", "fatal"]).nullable().describe(
    "whether a retry could help: transient and resource failures are retried once",
  ),
  data: z.record(z.string(), z.unknown()).optional(),
});

/** A job as `job.get`, `job.wait` and `job.list` describe it. */
export const JobSchema = z.object({
  id: z.string(),
  capability: z.string(),
  method: z.string(),
  configKey: z.string(),
  priority: z.number().int(),
  status: Status,
  attempts: z.number().int().describe("attempts started: at most 2 (one retry)"),
  position: z.number().int().nullable().describe("1 = runs next; null unless queued here"),
  reason: z.string().nullable().describe("why it waits; null unless queued"),
  instanceId: z.string().nullable(),
  host: z.string().nullable().describe("the host it was forwarded to; null for this host"),
  remoteId: z.string().nullable().describe("its id on that host"),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
  result: z.unknown().optional().describe("set once succeeded"),
  error: JobErrorSchema.nullable(),
  progress: z.object({
    fraction: z.number().optional(),
    message: z.string().optional(),
    partial: z.unknown().optional(),
  }).nullable().describe("the last progress a running job reported"),
});

/** One line of a job's journal. */
export const JournalEntrySchema = z.object({
  seq: z.number().int(),
  ts: z.number().int(),
  event: z.string(),
  attempt: z.number().int(),
  data: z.record(z.string(), z.unknown()),
});

const SubmitParams = z.object({
  capability: CapabilityName,
  method: MethodName,
  args: z.unknown().optional().describe("the method's arguments (plain JSON)"),
  config: z.unknown().optional().describe(
    "the capability's config; one instance serves each distinct config",
  ),
  priority: Priority.optional(),
  timeoutMs: z.number().int().min(1).max(86_400_000).optional().describe(
    "time limit of each attempt's call",
  ),
  to: HostRef.optional(),
  local: z.boolean().optional().describe(
    "run here or fail; never forward (hosts set it when they forward)",
  ),
}).strict();

/** `job.submit`: queue a capability call. */
export const jobSubmit = defineMethod({
  name: "job.submit",
  summary:
    "Queue a call of a capability's method; returns the job (its id, status, position and why it waits). Runs on another host with 'to', or by itself when this host lacks the capability, could never fit it, or would make it wait while a peer could start it now.",
  params: SubmitParams,
  positional: ["capability", "method", "args"],
  result: JobSchema,
  timeoutMs: 60_000,
});

/** `job.get`: a job now. */
export const jobGet = defineMethod({
  name: "job.get",
  summary: "A job: status, position and reason while queued, result or error once finished.",
  params: z.object({
    id: JobId,
    journal: z.boolean().optional().describe("include its journal (every attempt)"),
  }).strict(),
  positional: ["id"],
  result: JobSchema.extend({ journal: z.array(JournalEntrySchema).optional() }),
});

/** `job.wait`: until a job has finished. */
export const jobWait = defineMethod({
  name: "job.wait",
  summary:
    "Wait until a job has finished or timeoutMs has passed, and return it as it is then (check status).",
  params: z.object({
    id: JobId,
    timeoutMs: z.number().int().min(0).max(3_600_000).default(30_000),
  }).strict(),
  positional: ["id", "timeoutMs"],
  result: JobSchema,
  timeoutMs: 3_660_000,
});

/** `job.cancel`: stop a job. */
export const jobCancel = defineMethod({
  name: "job.cancel",
  summary:
    "Cancel a job: a queued one leaves the queue; a running one has its call cancelled in the worker.",
  params: z.object({ id: JobId }).strict(),
  positional: ["id"],
  result: JobSchema,
  timeoutMs: 60_000,
});

/** `job.list`: jobs, newest first. */
export const jobList = defineMethod({
  name: "job.list",
  summary: "Jobs of this host, newest first, optionally by status or capability.",
  params: z.object({
    status: Status.optional(),
    capability: CapabilityName.optional(),
    limit: z.number().int().min(1).max(1000).default(100),
  }).strict(),
  result: z.object({ jobs: z.array(JobSchema) }),
});

/** `job.capacity`: whether this host could run a job now (hosts ask each other before forwarding). */
export const jobCapacity = defineMethod({
  name: "job.capacity",
  summary:
    "Whether this host has a capability and the free resources to start a call of it now (asked by other hosts choosing where to run a job).",
  params: z.object({ capability: CapabilityName, config: z.unknown().optional() }).strict(),
  positional: ["capability"],
  result: z.object({
    installed: z.boolean(),
    fits: z.boolean().describe("could start now"),
    never: z.boolean().describe("could never run here (not installed, or too big for this host)"),
    reason: z.string().nullable(),
    queued: z.number().int(),
  }),
  timeoutMs: 10_000,
});

/** `job.resources`: what the queue admits against. */
export const jobResources = defineMethod({
  name: "job.resources",
  summary:
    "What the job queue admits against now: RAM and each GPU (size, use outside roam, budget, committed, free, MB) and every instance with its use and peaks.",
  params: z.object({}).strict(),
  result: z.object({
    pools: z.array(z.object({
      key: z.string(),
      label: z.string(),
      totalMb: z.number(),
      usedMb: z.number(),
      reserveMb: z.number(),
      outsideMb: z.number().describe("in use by processes outside roam"),
      budgetMb: z.number().describe("what roam may use: total - reserve - outside"),
      committedMb: z.number().describe("held or reserved by roam's instances"),
      freeMb: z.number(),
    })),
    instances: z.array(z.object({
      id: z.string(),
      capability: z.string(),
      configKey: z.string(),
      gpu: z.string().nullable(),
      state: z.enum(["starting", "busy", "idle", "stopping"]),
      active: z.number().int(),
      concurrency: z.number().int(),
      ramMb: z.number(),
      vramMb: z.number(),
      peakRamMb: z.number(),
      peakVramMb: z.number(),
      idleMs: z.number(),
    })),
    queued: z.number().int(),
    running: z.number().int(),
  }),
});

/** `capability.call`: submit and wait, in one step. */
export const capabilityCall = defineMethod({
  name: "capability.call",
  summary:
    "Call a capability's method through the job queue and return its result (submit + wait); over a WebSocket, progress arrives as job.progress notifications.",
  params: SubmitParams.omit({ local: true }),
  positional: ["capability", "method", "args"],
  result: z.object({
    jobId: z.string(),
    host: z.string().nullable().describe("the host it ran on when forwarded; null for this host"),
    result: z.unknown(),
  }),
  timeoutMs: 86_400_000,
});

/** The notification a WebSocket caller of `capability.call` hears for each progress report. */
export const JOB_PROGRESS_NOTIFICATION = "job.progress";
