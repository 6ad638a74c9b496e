import { z } from "zod";

/** How a host reaches registries and how much it takes from them. */
export const RegistryConfigSchema = z.object({
  /**
   * The registry index used when a call names none: an http(s) or file URL
   * of an `index.json` (or of the dir holding it). Default: `$ROAM_REGISTRY`
   * of the host process, else none.
   */
  url: z.string().min(1).max(2048).optional(),
  /** Longest an index or an archive download may take in all. */
  timeoutMs: z.number().int().min(1).default(1_800_000),
  /** Longest wait for the next bytes of an index or archive: a stalled download is dropped. */
  stallMs: z.number().int().min(1).default(60_000),
  /** Largest index (and signature) read. */
  maxIndexBytes: z.number().int().min(1024).default(8 * 1024 * 1024),
  /** Largest archive downloaded, whatever the index says. */
  maxArchiveBytes: z.number().int().min(1024).default(1024 * 1024 * 1024),
  /** Most entries in an archive. */
  maxEntries: z.number().int().min(1).default(10_000),
  /** Largest file unpacked from an archive. */
  maxFileBytes: z.number().int().min(1).default(512 * 1024 * 1024),
  /** Most bytes unpacked from one archive. */
  maxUnpackedBytes: z.number().int().min(1).default(2 * 1024 * 1024 * 1024),
});

/** A registry configuration with defaults filled in. */
export type RegistryConfig = z.output<typeof RegistryConfigSchema>;
