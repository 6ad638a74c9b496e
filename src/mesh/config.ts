import { z } from "zod";
import { RoamError } from "../errors/mod.ts";

/** The default multicast group hosts announce themselves on. */
export const DEFAULT_MULTICAST_GROUP = "239.255.74.20";

/** The default UDP port of the multicast group. */
export const DEFAULT_MULTICAST_PORT = 7421;

/** A multicast group and port, as `--multicast-group ADDR:PORT` gives them. */
export interface MulticastGroup {
  /** An IPv4 multicast address (224.0.0.0/4). */
  address: string;
  /** The UDP port. */
  port: number;
}

/** Whether `address` is an IPv4 multicast address (224.0.0.0 to 239.255.255.255). */
export function isMulticastV4(address: string): boolean {
  const m = address.match(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/);
  if (!m || m.slice(1).some((n) => Number(n) > 255)) return false;
  const first = Number(m[1]);
  return first >= 224 && first <= 239;
}

/**
 * Parse `ADDR:PORT` (or a bare `ADDR`, which keeps the default port) into a
 * multicast group. Throws `invalid_input` with what to write instead.
 */
export function parseMulticastGroup(text: string): MulticastGroup {
  const [address, port, ...rest] = text.trim().split(":");
  const portNumber = port === undefined ? DEFAULT_MULTICAST_PORT : Number(port);
  if (
    rest.length || !isMulticastV4(address) || !Number.isInteger(portNumber) || portNumber < 1 ||
    portNumber > 65535
  ) {
    throw new RoamError(
      "invalid_input",
      `--multicast-group takes ADDR:PORT with an IPv4 multicast address (224.0.0.0 to 239.255.255.255) and a port from 1 to 65535, like ${DEFAULT_MULTICAST_GROUP}:${DEFAULT_MULTICAST_PORT}; got "${text}"`,
      { value: text },
    );
  }
  return { address, port: portNumber };
}

const PeerUrl = z.string().refine((v) => {
  try {
    const url = new URL(v);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}, { message: "a --peer is a host URL like http://192.168.1.20:7420" });

/**
 * The mesh's settings: discovery, gossip and failure detection. The timing
 * defaults declare a dead host dead in about 3.5 s and at most about 4.5 s in
 * a small mesh (the wait for the next probe of it, the 1.2 s probe, the 2 s
 * suspicion window), while a host that stalls for up to about 3 s refutes
 * its suspicion instead of being declared dead.
 */
export const MeshConfigSchema = z.object({
  /** Run the mesh at all. */
  enabled: z.boolean().default(true),
  /**
   * Announce on and listen to the multicast group. Only used while the host
   * has a non-loopback address: a loopback-only host never sends multicast.
   */
  multicast: z.boolean().default(true),
  /** The multicast group. */
  group: z.object({
    address: z.string().refine(isMulticastV4, {
      message: "the multicast group is an IPv4 multicast address (224.0.0.0 to 239.255.255.255)",
    }),
    port: z.number().int().min(1).max(65535),
  }).default({ address: DEFAULT_MULTICAST_GROUP, port: DEFAULT_MULTICAST_PORT }),
  /** UDP port for unicast gossip; default the host's HTTP port (a free one if that is taken). */
  gossipPort: z.number().int().min(0).max(65535).optional(),
  /** Hosts to join by unicast, for networks without multicast. */
  peers: z.array(PeerUrl).max(64).default([]),
  /** How often each host probes one member. */
  probeIntervalMs: z.number().int().min(10).default(300),
  /** How long a direct probe waits for its ack before asking others to probe. */
  ackTimeoutMs: z.number().int().min(5).default(500),
  /** How long a whole probe (direct, then indirect) may take before the member is suspected. */
  probeTimeoutMs: z.number().int().min(10).default(1_200),
  /** How many members are asked to probe indirectly. */
  indirectProbes: z.number().int().min(0).max(16).default(3),
  /** How long a suspected member has to refute before it is declared dead. */
  suspicionMs: z.number().int().min(10).default(2_000),
  /** How often queued membership updates are gossiped to `fanout` random members. */
  gossipIntervalMs: z.number().int().min(10).default(200),
  /** How many members each gossip round goes to. */
  fanout: z.number().int().min(1).max(16).default(3),
  /** How often a host announces itself on the multicast group. */
  announceIntervalMs: z.number().int().min(50).default(1_000),
  /** How often the full member list is exchanged over HTTP with a random member (anti-entropy). */
  syncIntervalMs: z.number().int().min(100).default(30_000),
  /** Most a packet's timestamp may differ from this host's clock. */
  maxClockSkewMs: z.number().int().min(100).default(30_000),
  /** Most members kept; packets about more are dropped and counted. */
  maxMembers: z.number().int().min(2).max(100_000).default(1024),
  /** How long dead and departed members stay listed. */
  deadRetainMs: z.number().int().min(1_000).default(3_600_000),
});

/** What a caller may pass for the mesh (defaults may be left out). */
export type MeshConfigInput = z.input<typeof MeshConfigSchema>;

/** The mesh's settings with every default filled in. */
export type MeshConfig = z.output<typeof MeshConfigSchema>;
