import { z } from "zod";

const GiB = 1024 * 1024 * 1024;

/**
 * How a host's ArtifactStore is bounded and swept: the largest blob, the
 * total it may hold, how often garbage is collected, how long a blob whose
 * last pin went away is kept, and how long a silent upload may stall.
 */
export const ArtifactsConfigSchema = z.object({
  /** Largest blob, in bytes; a bigger upload fails with `too_large`. */
  maxBlobBytes: z.number().int().min(1).default(8 * GiB),
  /** Most bytes all blobs together may take; past it an upload fails with `quota_exceeded`. */
  quotaBytes: z.number().int().min(1).default(64 * GiB),
  /** How often expired and released blobs and stale temporary files are removed. */
  gcIntervalMs: z.number().int().min(10).default(60_000),
  /** How long a blob stays after its last pin was removed (then garbage collection takes it). */
  releaseGraceMs: z.number().int().min(0).default(10 * 60_000),
  /** A temporary upload file older than this, with no upload writing it, is removed. */
  partTtlMs: z.number().int().min(1000).default(3600_000),
  /** Most uploads (and fetches from other hosts) writing at once; more wait for none and fail with `queue_full`. */
  maxConcurrentUploads: z.number().int().min(1).default(64),
  /** An upload or download that sends no byte for this long is abandoned. */
  idleTimeoutMs: z.number().int().min(100).default(60_000),
});

/** An ArtifactStore configuration with its defaults filled in. */
export type ArtifactsConfig = z.output<typeof ArtifactsConfigSchema>;
