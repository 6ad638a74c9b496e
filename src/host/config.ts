import { join } from "node:path";
import { z } from "zod";
import { DEFAULT_PORT, defaultDataDir } from "../client/mod.ts";
import { RoamError } from "../errors/mod.ts";
import { MeshConfigSchema } from "../mesh/mod.ts";
import { RelayHubConfigSchema, RelayUrlsSchema } from "../relay/mod.ts";
import { RegistryConfigSchema } from "../registry/mod.ts"; // registry
import { MemoryConfigSchema } from "../memory/mod.ts"; // memory
import { ArtifactsConfigSchema } from "../artifacts/mod.ts"; // artifacts

const BindEntry = z.string().min(1).refine(
  (v) => v === "auto" || v === "loopback" || isIpAddress(v),
  {
    message: "each --bind is 'auto', 'loopback' or an IP address of this machine",
  },
);

/** Limits that protect a host from slow, huge or too many requests. */
export const LimitsSchema = z.object({
  /**
   * Largest HTTP request body: room for `plugin.add` with an 8 MiB bundle
   * after JSON escaping (about 7% on typical code) and its manifest.
   */
  maxRequestBytes: z.number().int().min(1024).default(10 * 1024 * 1024),
  /** Longest time a request body may take to arrive. */
  bodyTimeoutMs: z.number().int().min(1).default(10_000),
  /** Time limit of a call whose method sets none. */
  callTimeoutMs: z.number().int().min(1).default(30_000),
  /** Most calls in one batch. */
  maxBatch: z.number().int().min(1).default(100),
  /** Largest WebSocket message. */
  wsMaxMessageBytes: z.number().int().min(1024).default(1024 * 1024),
  /** Most calls running at once on one WebSocket. */
  wsMaxInFlight: z.number().int().min(1).default(64),
  /** Most bytes waiting to go out to a WebSocket before it is dropped as too slow. */
  wsMaxBufferedBytes: z.number().int().min(1024).default(8 * 1024 * 1024),
  /** Most live subscriptions on one WebSocket. */
  wsMaxSubscriptions: z.number().int().min(1).default(16),
  /** Most open WebSockets. */
  maxSockets: z.number().int().min(1).default(256),
});

/** capabilities: how the capability runtime creates environments and runs workers. */
export const CapabilitiesConfigSchema = z.object({
  /** Most milliseconds an environment creation step (pip, conda) may print nothing before it counts as stalled. */
  envStallMs: z.number().int().min(100).default(300_000),
  /** Most instances running at once. */
  maxInstances: z.number().int().min(1).max(4096).default(64),
  /** Worker timings. */
  timings: z.object({
    /** Spawn until the worker prints its port. */
    startTimeoutMs: z.number().int().min(100).default(120_000),
    /** Longest `/initialize` in all (loading a model): a cap for a load that never ends. */
    initTimeoutMs: z.number().int().min(100).default(3_600_000),
    /** Longest a worker may leave /health unanswered while it initializes (wedged, not slow). */
    initStallMs: z.number().int().min(100).default(120_000),
    /** Wait after the shutdown call, and again after SIGTERM. */
    stopGraceMs: z.number().int().min(0).default(3_000),
    /** How long a cancelled call may take to end before its instance is stopped. */
    cancelGraceMs: z.number().int().min(0).default(3_000),
  }).strict().default({
    startTimeoutMs: 120_000,
    initTimeoutMs: 3_600_000,
    initStallMs: 120_000,
    stopGraceMs: 3_000,
    cancelGraceMs: 3_000,
  }),
  /** Retention of DATA_DIR/diagnostics. */
  diagnostics: z.object({
    maxBytesPerCapability: z.number().int().min(1024).default(20 * 1024 * 1024),
    maxAgeMs: z.number().int().min(1000).default(7 * 24 * 3600_000),
    maxFileBytes: z.number().int().min(1024).default(5 * 1024 * 1024),
  }).strict().default({
    maxBytesPerCapability: 20 * 1024 * 1024,
    maxAgeMs: 7 * 24 * 3600_000,
    maxFileBytes: 5 * 1024 * 1024,
  }),
}).strict();

// jobs: begin
/** jobs: limits and timings of the capability job queue (see docs/jobs.md). */
export const JobsConfigSchema = z.object({
  /** Most jobs waiting; a submit beyond it fails with `queue_full`. */
  maxQueued: z.number().int().min(1).max(1_000_000).default(1000),
  /** Most jobs running at once on this host. */
  maxRunning: z.number().int().min(1).max(4096).default(64),
  /** Most instances of one (capability, config) at once. */
  maxInstances: z.number().int().min(1).max(256).default(1),
  /** An idle instance stays resident this long before it is stopped, ms. */
  idleMs: z.number().int().min(100).default(300_000),
  /** RAM kept out of the capabilities' budget, MB. */
  reserveRamMb: z.number().int().min(0).default(512),
  /** VRAM kept out of the budget on each GPU, MB. */
  reserveVramMb: z.number().int().min(0).default(256),
  /** Finished jobs kept, with their journal. */
  retainFinished: z.number().int().min(10).max(10_000_000).default(10_000),
  /** How often jobs waiting for memory look at the machine again, ms. */
  pollMs: z.number().int().min(10).default(1_000),
  /** Largest result kept, bytes of JSON. */
  maxResultBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
}).strict();
// jobs: end

/** Everything `startHost` needs; every field has a default. */
export const HostConfigSchema = z.object({
  /** The host's name in the mesh. Default: the machine's hostname. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, {
    message:
      "a host name is 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit",
  }).optional(),
  /** `loopback` (default), `auto` (the LAN addresses, re-bound when they change), or IP addresses. */
  bind: z.array(BindEntry).min(1).default(["loopback"]),
  /** TCP port; 0 picks a free one. */
  port: z.number().int().min(0).max(65535).default(DEFAULT_PORT),
  /** Where state, the secret and blobs live. Default `~/.roam`. */
  dataDir: z.string().min(1).optional(),
  /** Free-form labels used for placement. */
  tags: z.array(
    z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, {
      message: "a tag is 1 to 64 letters, digits, '.', '_', ':' or '-'",
    }),
  ).max(64).default([]),
  /** Free-form key=value facts about the host. */
  properties: z.record(z.string().min(1).max(64), z.string().max(1024)).default({}),
  /** The mesh secret file. Default `DATA_DIR/secret`. */
  secretFile: z.string().min(1).optional(),
  /** How often `--bind auto` looks for changed addresses. */
  rebindIntervalMs: z.number().int().min(10).default(5_000),
  /** How long a stop waits for calls in progress before it gives up on them. */
  shutdownGraceMs: z.number().int().min(0).default(5_000),
  /** Most events the log keeps. */
  eventRetain: z.number().int().min(10).max(10_000_000).default(10_000),
  /** The agent runtime. */
  agents: z.object({
    /** Keep one runner process started ahead of need, so creating an agent only waits for its worker. */
    warmRunner: z.boolean().default(true),
    /** Heap budget of an agent whose plugin names none, in MB. */
    memoryMb: z.number().int().min(16).max(65536).default(256),
    /** Time limit of a message that sets none. */
    messageTimeoutMs: z.number().int().min(1).default(30_000),
    /** Most messages waiting in one agent's mailbox. */
    mailboxCapacity: z.number().int().min(1).max(1_000_000).default(1024),
  }).default({ warmRunner: true, memoryMb: 256, messageTimeoutMs: 30_000, mailboxCapacity: 1024 }),
  /** Limits on requests. */
  limits: LimitsSchema.default(LimitsSchema.parse({})),
  /** The mesh: multicast discovery, unicast gossip with peers, failure detection. */
  mesh: MeshConfigSchema.default(MeshConfigSchema.parse({})),
  /** Hubs to keep a relay connection to (`--relay`), for a host others cannot connect to. */
  relay: RelayUrlsSchema.default([]),
  /** capabilities: environments, worker timings and the diagnostics store. */
  capabilities: CapabilitiesConfigSchema.default(CapabilitiesConfigSchema.parse({})),
  /** jobs: the capability job queue's limits. */
  jobs: JobsConfigSchema.default(JobsConfigSchema.parse({})),
  /** How this host queues requests for hosts connected to it as a relay hub. */
  relayHub: RelayHubConfigSchema.default(RelayHubConfigSchema.parse({})),
  /** registry: the default plugin registry (else $ROAM_REGISTRY) and download limits. */
  registry: RegistryConfigSchema.default(RegistryConfigSchema.parse({})),
  /** memory: pools, record transforms and the memory secrets file. */
  memory: MemoryConfigSchema.default(MemoryConfigSchema.parse({})),
  /** artifacts: the blob store's quotas, expiry sweep and time limits. */
  artifacts: ArtifactsConfigSchema.default(ArtifactsConfigSchema.parse({})),
});

/** What a caller passes to `startHost`. */
export type HostConfigInput = z.input<typeof HostConfigSchema>;

/** A host configuration with every default filled in. */
export type HostConfig = z.output<typeof HostConfigSchema> & {
  name: string;
  dataDir: string;
  secretFile: string;
};

/** Validate a configuration and fill in its defaults. */
export function resolveHostConfig(input: HostConfigInput): HostConfig {
  const parsed = HostConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RoamError(
      "invalid_input",
      `invalid host configuration${
        issue.path.length ? ` (${issue.path.join(".")})` : ""
      }: ${issue.message}`,
      { issues: parsed.error.issues.map(({ path, message }) => ({ path, message })) },
    );
  }
  const config = parsed.data;
  const dataDir = config.dataDir ?? defaultDataDir();
  return {
    ...config,
    name: config.name ?? sanitizeHostname(Deno.hostname()),
    dataDir,
    secretFile: config.secretFile ?? join(dataDir, "secret"),
  };
}

/** Whether `value` is an IPv4 or IPv6 address literal. */
export function isIpAddress(value: string): boolean {
  if (/^(\d{1,3})(\.\d{1,3}){3}$/.test(value)) {
    return value.split(".").every((n) => Number(n) <= 255);
  }
  if (value.includes(":")) {
    try {
      new URL(`http://[${value}]/`);
      return true;
    } catch {
      return false;
    }
  }
  return false;
}

function sanitizeHostname(hostname: string): string {
  const cleaned = hostname.split(".")[0].replace(/[^A-Za-z0-9._-]/g, "-").replace(
    /^[^A-Za-z0-9]+/,
    "",
  );
  return cleaned.slice(0, 63) || "roam-host";
}
