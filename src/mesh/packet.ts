import { z } from "zod";
import {
  KEY_ID_BYTES,
  type MeshKey,
  type MeshKeyring,
  newNonce,
  NONCE_BYTES,
  open,
  seal,
  TAG_BYTES,
} from "./crypto.ts";

/** Largest gossip packet sent or accepted: one UDP datagram on any LAN. */
export const MAX_PACKET_BYTES = 1400;

/** The wire format version in every packet header. */
export const PACKET_VERSION = 1;

const MAGIC_0 = 0x52; // "R"
const MAGIC_1 = 0x4d; // "M"

/** Bytes before the ciphertext: magic (2), version (1), reserved (1), key id (4), nonce (12). */
export const HEADER_BYTES = 4 + KEY_ID_BYTES + NONCE_BYTES;

/** Most plaintext bytes a packet can carry. */
export const MAX_PLAINTEXT_BYTES = MAX_PACKET_BYTES - HEADER_BYTES - TAG_BYTES;

/** Why a received packet was dropped; each has a counter in `mesh.stats`. */
export type DropReason =
  | "oversized"
  | "malformed"
  | "version"
  | "unknownKey"
  | "auth"
  | "invalid"
  | "replayed"
  | "stale"
  | "foreign"
  | "full";

const Seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** A member as gossip carries it: who, where, which incarnation, and in what state. */
export const WireMemberSchema = z.object({
  /** The host's stable id. */
  i: z.string().min(1).max(64),
  /** Its name. */
  n: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/),
  /**
   * Its primary URL; the gossip address is this URL's host with port `g`.
   * A path appears only in a relay URL (`HUB/relay/<id>`).
   */
  u: z.string().min(1).max(256).regex(/^https?:\/\/[^\s/]+(?:\/[^\s]*)?$/),
  /** Its unicast gossip port. */
  g: z.number().int().min(1).max(65535),
  /** Which start of the host (grows with every restart). */
  e: z.number().int().min(0).max(0xffff_ffff),
  /** Its incarnation within that start (grows when it refutes or its record changes). */
  c: Seq,
  /** alive, suspect, dead or left. */
  s: z.enum(["a", "s", "d", "l"]),
}).strict();

/** A member as gossip carries it. */
export type WireMember = z.infer<typeof WireMemberSchema>;

/** The sender's own load figures, carried by every packet it sends. */
export const WireMetricsSchema = z.object({
  /** Load averages over 1, 5 and 15 minutes. */
  l: z.array(z.number().min(0).max(1e6)).max(3),
  /** Free (available) RAM, MB. */
  f: z.number().int().min(0),
  /** Total RAM, MB. */
  t: z.number().int().min(0),
  /** Free memory of each GPU, MB. */
  g: z.array(z.number().int().min(0)).max(16),
}).strict();

/** The sender's own load figures. */
export type WireMetrics = z.infer<typeof WireMetricsSchema>;

const base = {
  /** The sender, as it sees itself. */
  f: WireMemberSchema,
  /** Per-sender counter, increasing within one start of the sender (replay protection). */
  q: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  /** The sender's clock, ms since the epoch (replay protection). */
  t: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  /** The sender's load figures. */
  m: WireMetricsSchema.optional(),
  /** Membership updates riding along. */
  u: z.array(WireMemberSchema).max(32).optional(),
};

/**
 * What a packet says, after decryption: a probe (`ping`), its answer (`ack`),
 * a request to probe a member for the sender (`req`), a multicast
 * announcement (`ann`), plain gossip (`gsp`), or a goodbye (`bye`).
 */
export const EnvelopeSchema = z.discriminatedUnion("k", [
  z.object({ ...base, k: z.literal("ping"), p: Seq }).strict(),
  z.object({ ...base, k: z.literal("ack"), p: Seq }).strict(),
  z.object({ ...base, k: z.literal("req"), p: Seq, x: WireMemberSchema }).strict(),
  z.object({ ...base, k: z.literal("ann") }).strict(),
  z.object({ ...base, k: z.literal("gsp") }).strict(),
  z.object({ ...base, k: z.literal("bye") }).strict(),
]);

/** What a packet says. */
export type Envelope = z.infer<typeof EnvelopeSchema>;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Seal an envelope into one packet: the header (authenticated, not
 * encrypted) then the AES-GCM ciphertext and tag. Throws a RangeError when it
 * would exceed {@linkcode MAX_PACKET_BYTES}; {@linkcode fitUpdates} keeps
 * envelopes below that.
 */
export function encodePacket(key: MeshKey, envelope: Envelope): Uint8Array {
  const plaintext = encoder.encode(JSON.stringify(envelope));
  if (plaintext.length > MAX_PLAINTEXT_BYTES) {
    throw new RangeError(
      `a gossip packet would be ${
        plaintext.length + HEADER_BYTES + TAG_BYTES
      } bytes; the most is ${MAX_PACKET_BYTES}`,
    );
  }
  const header = new Uint8Array(HEADER_BYTES);
  header[0] = MAGIC_0;
  header[1] = MAGIC_1;
  header[2] = PACKET_VERSION;
  header[3] = 0;
  header.set(key.id, 4);
  header.set(newNonce(), 4 + KEY_ID_BYTES);
  const sealed = seal(key, header.subarray(4 + KEY_ID_BYTES), header, plaintext);
  const packet = new Uint8Array(HEADER_BYTES + sealed.length);
  packet.set(header, 0);
  packet.set(sealed, HEADER_BYTES);
  return packet;
}

/** The outcome of {@linkcode decodePacket}. */
export type Decoded =
  | { ok: true; envelope: Envelope; key: MeshKey }
  | { ok: false; reason: DropReason };

/**
 * Open a received packet: check its size, header and version, find its key,
 * verify and decrypt, then validate the envelope. Never throws; a packet
 * that fails any step comes back with the reason.
 */
export function decodePacket(keyring: MeshKeyring, packet: Uint8Array): Decoded {
  if (packet.length > MAX_PACKET_BYTES) return { ok: false, reason: "oversized" };
  if (packet.length < HEADER_BYTES + TAG_BYTES + 2) return { ok: false, reason: "malformed" };
  if (packet[0] !== MAGIC_0 || packet[1] !== MAGIC_1 || packet[3] !== 0) {
    return { ok: false, reason: "malformed" };
  }
  if (packet[2] !== PACKET_VERSION) return { ok: false, reason: "version" };
  const key = keyring.find(packet.subarray(4, 4 + KEY_ID_BYTES));
  if (!key) return { ok: false, reason: "unknownKey" };
  const header = packet.subarray(0, HEADER_BYTES);
  const plaintext = open(
    key,
    header.subarray(4 + KEY_ID_BYTES),
    header,
    packet.subarray(HEADER_BYTES),
  );
  if (!plaintext) return { ok: false, reason: "auth" };
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(plaintext));
  } catch {
    return { ok: false, reason: "invalid" };
  }
  const parsed = EnvelopeSchema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: "invalid" };
  return { ok: true, envelope: parsed.data, key };
}

/**
 * Bytes left in one packet for membership updates once `envelope` (without
 * its `u`) is written; spend them with {@linkcode updateBytes}.
 */
export function updateBudget(envelope: Envelope): number {
  const { u: _ignored, ...rest } = envelope;
  // `,"u":[]` around the list.
  return MAX_PLAINTEXT_BYTES - encoder.encode(JSON.stringify(rest)).length - 7;
}

/** Bytes one update takes inside the `u` list, its separating comma included. */
export function updateBytes(update: WireMember): number {
  return encoder.encode(JSON.stringify(update)).length + 1;
}
