import { z } from "zod";

/** The subprotocol a relay connection speaks. */
export const RELAY_PROTOCOL = "roam.relay.v1";

/** Headers a relayed request or response carries; hop-by-hop ones stay behind. */
export const HeadersSchema = z.array(z.tuple([z.string().max(256), z.string().max(8192)])).max(
  64,
);

/** Largest gossip datagram a relay carries (base64 of the mesh's 1,400-byte packets, with room). */
export const MAX_RELAYED_DATAGRAM_CHARS = 2_048;

/** A UDP address given as an IP literal (a relay never resolves names for others). */
export const UdpEndpointSchema = z.object({
  hostname: z.string().regex(/^[0-9A-Fa-f.:]{2,45}$/, { message: "an IP address" }),
  port: z.number().int().min(1).max(65535),
});

/** Frames the connected host sends to its hub. */
export const UpFrameSchema = z.discriminatedUnion("t", [
  /** First frame on every connection: who is connecting. */
  z.object({
    t: z.literal("hello"),
    id: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/),
    name: z.string().max(128),
  }),
  /** The answer to a forwarded request: also its acknowledgement. */
  z.object({
    t: z.literal("res"),
    id: z.number().int(),
    status: z.number().int().min(100).max(599),
    headers: HeadersSchema,
    body: z.string(),
  }),
  /**
   * A mesh datagram for the hub to send from the host's gossip port on the
   * hub: to `to`, or to the mesh's multicast group when `to` is null.
   */
  z.object({
    t: z.literal("udp"),
    to: UdpEndpointSchema.nullable(),
    data: z.string().max(MAX_RELAYED_DATAGRAM_CHARS),
  }),
]);

/** A frame from the connected host to its hub. */
export type UpFrame = z.infer<typeof UpFrameSchema>;

/** Frames the hub sends to a connected host. */
export const DownFrameSchema = z.discriminatedUnion("t", [
  /**
   * The hub took the hello; requests follow. `gossipPort`: the UDP port on
   * the hub where the host's mesh datagrams arrive (absent when the hub runs
   * no mesh).
   */
  z.object({
    t: z.literal("welcome"),
    url: z.string(),
    gossipPort: z.number().int().min(1).max(65535).optional(),
  }),
  /** A mesh datagram that arrived for the host at its gossip port on the hub. */
  z.object({
    t: z.literal("udp"),
    from: UdpEndpointSchema,
    data: z.string().max(MAX_RELAYED_DATAGRAM_CHARS),
  }),
  /** A request for the connected host, to run through its own HTTP handler. */
  z.object({
    t: z.literal("req"),
    id: z.number().int(),
    method: z.string().max(16),
    path: z.string().max(8192),
    headers: HeadersSchema,
    body: z.string(),
  }),
]);

/** A frame from the hub to a connected host. */
export type DownFrame = z.infer<typeof DownFrameSchema>;

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  "te",
  "trailer",
  "proxy-authorization",
  "proxy-connection",
]);

/** The headers of a request or response worth passing through a relay. */
export function relayHeaders(headers: Headers): [string, string][] {
  const out: [string, string][] = [];
  for (const [name, value] of headers) {
    if (!HOP_BY_HOP.has(name) && out.length < 64) out.push([name, value]);
  }
  return out;
}
