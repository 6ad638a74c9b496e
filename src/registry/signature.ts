import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { Buffer } from "node:buffer";
import { z } from "zod";
import { RoamError } from "../errors/mod.ts";

/** The `format` string of a detached index signature (`index.json.sig`). */
export const SIGNATURE_FORMAT = "roam-registry-signature/1";

/** Largest signature file read, in bytes. */
export const MAX_SIGNATURE_BYTES = 4096;

const B64URL = /^[A-Za-z0-9_-]+$/;

/** A publisher key as text: `ed25519:` and the 32-byte raw public key in base64url. */
export const PublisherKeySchema = z.string().regex(/^ed25519:[A-Za-z0-9_-]{43}$/, {
  message: "must be ed25519: followed by 43 base64url characters",
});

/**
 * `index.json.sig`: an ed25519 signature over the exact bytes of
 * `index.json`, and the key that made it.
 */
export const SignatureFileSchema = z.object({
  format: z.literal(SIGNATURE_FORMAT, { message: `must be "${SIGNATURE_FORMAT}"` }),
  key: PublisherKeySchema,
  signature: z.string().regex(B64URL).length(86, {
    message: "must be a 64-byte ed25519 signature in base64url (86 characters)",
  }),
});

/** A parsed signature file. */
export type SignatureFile = z.output<typeof SignatureFileSchema>;

/** A new ed25519 key pair: the private key as PKCS#8 PEM and the public key as text. */
export function generateSigningKey(): { privatePem: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privatePem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    publicKey: keyText(publicKey),
  };
}

/**
 * Sign index bytes with a PKCS#8 PEM ed25519 private key (as made by
 * {@linkcode generateSigningKey} or `openssl genpkey -algorithm ed25519`).
 * Returns the text of `index.json.sig`.
 *
 * @throws {RoamError} `invalid_input` when the key is not an ed25519 private key.
 */
export function signIndex(index: Uint8Array, privatePem: string): string {
  let key: KeyObject;
  try {
    key = createPrivateKey(privatePem);
  } catch (error) {
    throw new RoamError(
      "invalid_input",
      `the signing key is not a PEM private key: ${(error as Error).message}`,
    );
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new RoamError(
      "invalid_input",
      `the signing key is a ${key.asymmetricKeyType} key; registry indexes are signed with ed25519 (make one with 'deno run -A scripts/build_registry.ts --gen-key FILE')`,
    );
  }
  const file: SignatureFile = {
    format: SIGNATURE_FORMAT,
    key: keyText(createPublicKey(key)),
    signature: Buffer.from(sign(null, index, key)).toString("base64url"),
  };
  return JSON.stringify(file, null, 2) + "\n";
}

/**
 * Check a detached signature over index bytes. Returns the publisher key
 * that signed them; whether that key is the expected one is the caller's
 * question (see `KeyPins`).
 *
 * @throws {RoamError} `invalid_input` when the signature file is malformed; `unavailable`
 * (`data.tampered`) when it does not match.
 */
export function verifyIndex(index: Uint8Array, signature: Uint8Array, source: string): string {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(signature));
  } catch {
    throw new RoamError(
      "invalid_input",
      `the index signature at ${source} is not valid JSON; the index cannot be trusted`,
      { source },
    );
  }
  const parsed = SignatureFileSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RoamError(
      "invalid_input",
      `the index signature at ${source}: ${issue.path.join(".") || "(the file)"}: ${issue.message}`,
      { source },
    );
  }
  const { key, signature: sig } = parsed.data;
  let ok = false;
  try {
    const publicKey = createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: key.slice("ed25519:".length) },
      format: "jwk",
    });
    ok = verify(null, index, publicKey, Buffer.from(sig, "base64url"));
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new RoamError(
      "unavailable",
      `the index does not match its signature at ${source} (key ${key}); it was changed after signing or damaged in transit, and will not be used`,
      { source, key, tampered: true },
    );
  }
  return key;
}

function keyText(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: "jwk" }) as { x?: string };
  if (!jwk.x || !B64URL.test(jwk.x)) throw new TypeError("not an ed25519 public key");
  return `ed25519:${jwk.x}`;
}
