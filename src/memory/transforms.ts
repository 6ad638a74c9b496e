import { RoamError } from "../errors/mod.ts";

/**
 * The transforms a record may name, from a fixed registry. A record naming
 * any other is refused: records are decoded by name, never by code they
 * carry.
 */
export const TRANSFORMS = ["gzip", "aes-256-gcm"] as const;

/** One transform's name. */
export type TransformName = typeof TRANSFORMS[number];

/** Encryption keys by id (each 32 bytes, for AES-256-GCM); records name the id, never the key. */
export type Keyring = Readonly<Record<string, Uint8Array>>;

/** What a transform needs besides the bytes. */
export interface TransformContext {
  /** Keys by id. */
  keys: Keyring;
  /** The key id the record names (encryption). */
  keyId?: string;
  /** The 12-byte nonce (encryption). */
  iv?: Uint8Array;
  /** Bytes authenticated with the ciphertext: the record's header. */
  aad: Uint8Array;
  /** Most bytes a decode may produce (guards against decompression bombs). */
  maxBytes: number;
}

/** Whether `name` is a known transform. */
export function isTransformName(name: string): name is TransformName {
  return (TRANSFORMS as readonly string[]).includes(name);
}

/** Check a list of transform names: known, each at most once. */
export function checkTransforms(names: readonly string[]): TransformName[] {
  const seen = new Set<string>();
  for (const name of names) {
    if (!isTransformName(name)) {
      throw new RoamError(
        "unsupported",
        `unknown transform "${name}"; roam knows ${
          TRANSFORMS.join(", ")
        } and refuses anything else`,
        { transform: name },
      );
    }
    if (seen.has(name)) {
      throw new RoamError("invalid_input", `transform "${name}" is named twice`, {
        transform: name,
      });
    }
    seen.add(name);
  }
  return names as TransformName[];
}

/** Apply one transform forward. */
export async function encodeStep(
  name: TransformName,
  bytes: Uint8Array,
  ctx: TransformContext,
): Promise<Uint8Array> {
  switch (name) {
    case "gzip":
      return await pipe(bytes, new CompressionStream("gzip"), Infinity);
    case "aes-256-gcm": {
      const key = await importKey(ctx, ["encrypt"]);
      return new Uint8Array(
        await crypto.subtle.encrypt(
          {
            name: "AES-GCM",
            iv: ctx.iv! as Uint8Array<ArrayBuffer>,
            additionalData: ctx.aad as Uint8Array<ArrayBuffer>,
          },
          key,
          bytes as Uint8Array<ArrayBuffer>,
        ),
      );
    }
  }
}

/** Undo one transform. */
export async function decodeStep(
  name: TransformName,
  bytes: Uint8Array,
  ctx: TransformContext,
): Promise<Uint8Array> {
  switch (name) {
    case "gzip":
      try {
        return await pipe(bytes, new DecompressionStream("gzip"), ctx.maxBytes);
      } catch (error) {
        if (error instanceof RoamError) throw error;
        throw new RoamError(
          "invalid_input",
          `a gzip record does not decompress: ${(error as Error).message}`,
        );
      }
    case "aes-256-gcm": {
      const key = await importKey(ctx, ["decrypt"]);
      try {
        return new Uint8Array(
          await crypto.subtle.decrypt(
            {
              name: "AES-GCM",
              iv: ctx.iv! as Uint8Array<ArrayBuffer>,
              additionalData: ctx.aad as Uint8Array<ArrayBuffer>,
            },
            key,
            bytes as Uint8Array<ArrayBuffer>,
          ),
        );
      } catch {
        throw new RoamError(
          "invalid_input",
          `record refused: it does not authenticate with key "${ctx.keyId}" (tampered, or another key)`,
          { keyId: ctx.keyId },
        );
      }
    }
  }
}

async function importKey(ctx: TransformContext, usages: KeyUsage[]): Promise<CryptoKey> {
  const id = ctx.keyId;
  const raw = id === undefined ? undefined : ctx.keys[id];
  if (!raw) {
    throw new RoamError(
      "unavailable",
      `encryption key "${id}" is not in the memory secrets file; add it under "keys"`,
      { keyId: id },
    );
  }
  if (!ctx.iv || ctx.iv.length !== 12) {
    throw new RoamError("invalid_input", "an aes-256-gcm record needs a 12-byte iv");
  }
  return await crypto.subtle.importKey(
    "raw",
    raw as Uint8Array<ArrayBuffer>,
    "AES-GCM",
    false,
    usages,
  );
}

async function pipe(
  bytes: Uint8Array,
  stream: CompressionStream | DecompressionStream,
  maxBytes: number,
): Promise<Uint8Array> {
  const reader = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough<Uint8Array>(
    stream,
  ).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBytes) {
        throw new RoamError(
          "too_large",
          `a record decompresses past its stated ${maxBytes} bytes`,
          {
            maxBytes,
          },
        );
      }
      chunks.push(value);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
