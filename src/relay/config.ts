import { z } from "zod";

/** How a host acting as a relay hub queues requests for the hosts connected to it. */
export const RelayHubConfigSchema = z.object({
  /** Most requests waiting (queued or sent and unanswered) for one connected host. */
  maxQueue: z.number().int().min(1).max(100_000).default(256),
  /** Most request bytes waiting for one connected host. */
  maxQueueBytes: z.number().int().min(1024).default(16 * 1024 * 1024),
  /** How long a relayed request may wait for its answer before the caller gets 504. */
  deadlineMs: z.number().int().min(1).default(30_000),
  /** A host not connected for this long is reported offline and its requests refused at once. */
  offlineAfterMs: z.number().int().min(1).default(60_000),
});

/** Relay hub settings with every default filled in. */
export type RelayHubConfig = z.output<typeof RelayHubConfigSchema>;

/** The `--relay` hub URLs: one string or a list, each an http(s) URL. */
export const RelayUrlsSchema = z.union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : [v]))
  .pipe(
    z.array(
      z.string().refine((v) => /^https?:\/\/[^/]+\/?$/.test(v), {
        message: "a --relay hub is an http(s) URL of a roam host, like http://hub.example:7420",
      }),
    ).max(8),
  );
