/**
 * The job queue's public surface: the queue (priorities, per-instance
 * concurrency, admission by RAM and VRAM, eviction, the journal), jobs
 * forwarded to other hosts, the RPC methods, the machine probe, and the
 * helper scripts use. Re-exported by `mod.ts` of this folder.
 *
 * @module
 */
export {
  DEFAULT_QUEUE_LIMITS,
  JobQueue,
  type JobQueueOptions,
  type JobView,
  type LocalSubmit,
  MAX_ATTEMPTS,
  type QueueLimits,
  type QueueResources,
} from "./queue.ts";
export { type CallOptions as JobCallOptions, Jobs, type SubmitParams } from "./jobs_service.ts";
export { agentCapabilityCalls, jobMethods } from "./jobs_methods.ts";
export { type JobTarget, RemoteJobs, type RemoteJobsOptions } from "./remote.ts";
export {
  type GpuReading,
  parseGpuQuery,
  parseMeminfo,
  type ResourceProbe,
  systemProbe,
  type SystemResources,
} from "./resources.ts";
export { type JobError, type JobStatus, JobStore, type JournalEntry } from "./journal.ts";
export { capability, type CapabilityHandle, type ScriptCallOptions } from "./jobs_client.ts";
