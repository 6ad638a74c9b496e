import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { z } from "zod";
import { RoamError } from "../errors/mod.ts";
import { Entry } from "./entry.ts";
import { globalId } from "./identity.ts";
import {
  checkTransforms,
  decodeStep,
  encodeStep,
  type Keyring,
  type TransformContext,
  type TransformName,
} from "./transforms.ts";
import { deserializeValue, serializeValue } from "./value.ts";

const MAGIC = new TextEncoder().encode("ROAMREC1");
const MAX_HEADER_BYTES = 64 * 1024;

/** Largest value an entry may hold by default (before transforms). */
export const DEFAULT_MAX_VALUE_BYTES = 64 * 1024 * 1024;

/** The header every stored record starts with: who it is and how to decode it, as data. */
export const RecordHeaderSchema = z.object({
  format: z.literal("roam.record"),
  v: z.literal(1),
  uuid: z.string().uuid(),
  evolution: z.number().int().min(0),
  kind: z.enum(["constant", "variable", "manifest"]),
  nickname: z.string().max(256).optional(),
  value: z.enum(["json", "bytes"]),
  transforms: z.array(z.string().max(64)).max(8),
  keyId: z.string().max(128).optional(),
  iv: z.string().max(64).optional(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  size: z.number().int().min(0),
  createdAt: z.string().max(64),
}).strict();

/** A record's header. */
export type RecordHeader = z.infer<typeof RecordHeaderSchema>;

/** How records are written. */
export interface EncodeOptions {
  /** Transforms in the order they are applied (default none). */
  transforms?: readonly TransformName[];
  /** Keys by id. */
  keys?: Keyring;
  /** The key id `aes-256-gcm` uses. */
  keyId?: string;
}

/** How records are read. */
export interface DecodeOptions {
  /** Keys by id, for encrypted records. */
  keys?: Keyring;
  /** The id the record must carry; a record stored under another id is refused. */
  expectId?: string;
  /** Largest value accepted. */
  maxValueBytes?: number;
  /** Refuse records that are not encrypted (and so not authenticated). */
  requireEncrypted?: boolean;
}

/**
 * Encode an entry as a self-describing record: `ROAMREC1`, a 4-byte header
 * length, a JSON header (identity, value type, the transforms by name, the
 * key id) and the transformed value. With `aes-256-gcm` the header is
 * authenticated with the ciphertext, so neither can be changed unnoticed;
 * without it the header carries the value's sha256, checked on read.
 */
export async function encodeRecord(entry: Entry, options: EncodeOptions = {}): Promise<Uint8Array> {
  const transforms = checkTransforms(options.transforms ?? []);
  const { type, bytes } = serializeValue(entry.value);
  const encrypted = transforms.includes("aes-256-gcm");
  const iv = encrypted ? crypto.getRandomValues(new Uint8Array(12)) : undefined;
  const header: RecordHeader = {
    format: "roam.record",
    v: 1,
    uuid: entry.uuid,
    evolution: entry.evolution,
    kind: entry.kind,
    ...(entry.nickname !== undefined ? { nickname: entry.nickname } : {}),
    value: type,
    transforms: [...transforms],
    ...(encrypted ? { keyId: options.keyId ?? "default", iv: toBase64(iv!) } : {}),
    // An encrypted record leaves the digest out: it would fingerprint the plaintext.
    ...(encrypted ? {} : { sha256: sha256Hex(bytes) }),
    size: bytes.length,
    createdAt: new Date().toISOString(),
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const ctx: TransformContext = {
    keys: options.keys ?? {},
    keyId: header.keyId,
    iv,
    aad: headerBytes,
    maxBytes: bytes.length,
  };
  let body = bytes;
  for (const step of transforms) body = await encodeStep(step, body, ctx);
  const out = new Uint8Array(MAGIC.length + 4 + headerBytes.length + body.length);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint32(MAGIC.length, headerBytes.length);
  out.set(headerBytes, MAGIC.length + 4);
  out.set(body, MAGIC.length + 4 + headerBytes.length);
  return out;
}

/** Read a record's header without decoding its value. */
export function readRecordHeader(
  record: Uint8Array,
): { header: RecordHeader; headerBytes: Uint8Array; body: Uint8Array } {
  if (record.length < MAGIC.length + 4 || !MAGIC.every((b, i) => record[i] === b)) {
    throw new RoamError("invalid_input", "not a roam record (no ROAMREC1 magic)");
  }
  const length = new DataView(record.buffer, record.byteOffset, record.byteLength).getUint32(
    MAGIC.length,
  );
  if (length > MAX_HEADER_BYTES || MAGIC.length + 4 + length > record.length) {
    throw new RoamError("invalid_input", "a roam record's header is too long or cut short");
  }
  const headerBytes = record.subarray(MAGIC.length + 4, MAGIC.length + 4 + length);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes));
  } catch {
    throw new RoamError("invalid_input", "a roam record's header is not JSON");
  }
  const parsed = RecordHeaderSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RoamError(
      "invalid_input",
      `a roam record's header is invalid (${issue.path.join(".")}: ${issue.message})`,
    );
  }
  return { header: parsed.data, headerBytes, body: record.subarray(MAGIC.length + 4 + length) };
}

/**
 * Decode a record into an entry: transforms undone by name from the fixed
 * registry (an unknown name is refused), authentication or the digest
 * checked, the value parsed as data.
 */
export async function decodeRecord(
  record: Uint8Array,
  options: DecodeOptions = {},
): Promise<Entry> {
  const { header, headerBytes, body } = readRecordHeader(record);
  const id = globalId(header.uuid, header.evolution);
  if (options.expectId !== undefined && options.expectId !== id) {
    throw new RoamError(
      "invalid_input",
      `record refused: asked for ${options.expectId}, it holds ${id}`,
      {
        expected: options.expectId,
        id,
      },
    );
  }
  const transforms = checkTransforms(header.transforms);
  const maxValue = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
  if (header.size > maxValue) {
    throw new RoamError(
      "too_large",
      `entry ${id} holds ${header.size} bytes, more than ${maxValue}`,
      {
        id,
        size: header.size,
      },
    );
  }
  const encrypted = transforms.includes("aes-256-gcm");
  if (!encrypted && options.requireEncrypted) {
    throw new RoamError(
      "invalid_input",
      `record ${id} refused: it is not encrypted, and this memory accepts only authenticated (aes-256-gcm) records`,
      { id },
    );
  }
  if (!encrypted && header.sha256 === undefined) {
    throw new RoamError(
      "invalid_input",
      `record ${id} has neither encryption nor a digest; refused`,
    );
  }
  const ctx: TransformContext = {
    keys: options.keys ?? {},
    keyId: header.keyId,
    iv: header.iv === undefined ? undefined : fromBase64(header.iv),
    aad: headerBytes,
    maxBytes: header.size,
  };
  let bytes: Uint8Array = body;
  for (const step of [...transforms].reverse()) bytes = await decodeStep(step, bytes, ctx);
  if (bytes.length !== header.size) {
    throw new RoamError(
      "invalid_input",
      `record ${id} refused: its value is ${bytes.length} bytes, the header says ${header.size}`,
    );
  }
  if (header.sha256 !== undefined && sha256Hex(bytes) !== header.sha256) {
    throw new RoamError(
      "invalid_input",
      `record ${id} refused: its value does not match its sha256 (corrupted or tampered)`,
      { id },
    );
  }
  return new Entry({
    uuid: header.uuid,
    evolution: header.evolution,
    kind: header.kind,
    value: deserializeValue(header.value, bytes),
    nickname: header.nickname,
    createdAt: header.createdAt,
  });
}

/** The hex sha256 of some bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Bytes as standard base64. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Standard base64 as bytes; malformed input is `invalid_input`. */
export function fromBase64(text: string): Uint8Array {
  if (text.length % 4 !== 0 || !BASE64.test(text)) {
    throw new RoamError("invalid_input", "not valid base64");
  }
  const buffer = Buffer.from(text, "base64");
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
