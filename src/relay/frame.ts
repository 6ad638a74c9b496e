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

/** Largest WebSocket message a relay carries, in characters (base64 for binary ones). */
export const MAX_RELAYED_MESSAGE_CHARS = 16 * 1024 * 1024;

/** A relayed WebSocket's id, given by the hub. */
const StreamId = z.number().int().min(1);

/** A message on a relayed WebSocket: text as it is, binary as base64. */
const StreamMessage = {
  sid: StreamId,
  data: z.string().max(MAX_RELAYED_MESSAGE_CHARS),
  binary: z.boolean().optional(),
};

/** A relayed WebSocket closed, with its close code and reason when known. */
const StreamClose = {
  sid: StreamId,
  code: z.number().int().min(1000).max(4999).optional(),
  reason: z.string().max(123).optional(),
};

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
  /** The host opened the WebSocket the hub asked for, with this subprotocol (maybe none). */
  z.object({ t: z.literal("ws-opened"), sid: StreamId, protocol: z.string().max(256) }),
  /** The host could not open it. */
  z.object({ t: z.literal("ws-refused"), sid: StreamId, reason: z.string().max(1024) }),
  /** A message from the host's end of a relayed WebSocket. */
  z.object({ t: z.literal("ws-msg"), ...StreamMessage }),
  /** The host's end closed. */
  z.object({ t: z.literal("ws-close"), ...StreamClose }),
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
  /**
   * A caller asked the hub for a WebSocket at `path` on the host: open it on
   * the host's own listener with these subprotocols, and say how it went.
   */
  z.object({
    t: z.literal("ws-open"),
    sid: StreamId,
    path: z.string().max(8192),
    protocols: z.array(z.string().max(8192)).max(16),
  }),
  /** A message from the caller's end of a relayed WebSocket. */
  z.object({ t: z.literal("ws-msg"), ...StreamMessage }),
  /** The caller's end closed. */
  z.object({ t: z.literal("ws-close"), ...StreamClose }),
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
