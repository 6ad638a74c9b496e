import {
  createCipheriv,
  createDecipheriv,
  createHash,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from "node:crypto";

/** The HKDF `info` that ties a key to this use and this protocol version. */
export const MESH_KEY_INFO = "roam/mesh/v1";

/** Bytes of a key id on the wire. */
export const KEY_ID_BYTES = 4;
/** Bytes of an AES-GCM nonce. */
export const NONCE_BYTES = 12;
/** Bytes of an AES-GCM authentication tag. */
export const TAG_BYTES = 16;

/** An AES-256-GCM key for gossip packets and the short id that names it on the wire. */
export interface MeshKey {
  /** The first bytes of a hash of the key; says which key sealed a packet, reveals nothing. */
  readonly id: Uint8Array;
  /** `id` as hex, for stats and logs. */
  readonly idHex: string;
  readonly key: Uint8Array;
}

/** Derive the gossip key from the mesh secret (HKDF-SHA256, info `roam/mesh/v1`). */
export function deriveMeshKey(secret: Uint8Array): MeshKey {
  const key = new Uint8Array(hkdfSync("sha256", secret, new Uint8Array(0), MESH_KEY_INFO, 32));
  const id = new Uint8Array(
    createHash("sha256").update("roam/mesh/kid").update(key).digest().subarray(0, KEY_ID_BYTES),
  );
  return { id, idHex: Buffer.from(id).toString("hex"), key };
}

/**
 * Encrypt and authenticate `plaintext` under `key`; `aad` is authenticated
 * but not encrypted. Returns the ciphertext followed by the tag.
 */
export function seal(
  key: MeshKey,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  const cipher = createCipheriv("aes-256-gcm", key.key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const final = cipher.final();
  const out = new Uint8Array(body.length + final.length + TAG_BYTES);
  out.set(body, 0);
  out.set(final, body.length);
  out.set(cipher.getAuthTag(), body.length + final.length);
  return out;
}

/** Decrypt what {@linkcode seal} made; null when the tag does not verify. */
export function open(
  key: MeshKey,
  nonce: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | null {
  if (sealed.length < TAG_BYTES) return null;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key.key, nonce, {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const body = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
    const final = decipher.final();
    const out = new Uint8Array(body.length + final.length);
    out.set(body, 0);
    out.set(final, body.length);
    return out;
  } catch {
    return null;
  }
}

/** A fresh random nonce. */
export function newNonce(): Uint8Array {
  return new Uint8Array(randomBytes(NONCE_BYTES));
}

/**
 * The keys a host accepts: the current one (which it seals with), the one
 * before it, and a next one announced ahead of use. A mesh moves to a new
 * secret without a gap in two rounds: every host first accepts the new key
 * ({@linkcode MeshKeyring.accept}), then every host seals with it
 * ({@linkcode MeshKeyring.rotate}); the old key is still accepted meanwhile.
 *
 * @example
 * const keys = new MeshKeyring(secret);
 * keys.accept(newSecret); // opens packets sealed with the new key too
 * keys.rotate(newSecret); // seals with the new key, still opens the old one
 */
export class MeshKeyring {
  #current: MeshKey;
  #previous: MeshKey | null = null;
  #next: MeshKey | null = null;

  /** Start with the key derived from `secret`. */
  constructor(secret: Uint8Array) {
    this.#current = deriveMeshKey(secret);
  }

  /** The key packets are sealed with. */
  get current(): MeshKey {
    return this.#current;
  }

  /** The key before the current one, still accepted; null before any rotation. */
  get previous(): MeshKey | null {
    return this.#previous;
  }

  /** A key accepted ahead of use; null when none. */
  get next(): MeshKey | null {
    return this.#next;
  }

  /**
   * Accept packets sealed with the key derived from `secret` without sealing
   * with it yet. Returns false when it is the current key already.
   */
  accept(secret: Uint8Array): boolean {
    const key = deriveMeshKey(secret);
    if (timingSafeEqual(key.key, this.#current.key)) return false;
    this.#next = key;
    return true;
  }

  /**
   * Make the key derived from `secret` current and keep the current one as
   * previous. Returns false (and changes nothing) when it is the same key.
   */
  rotate(secret: Uint8Array): boolean {
    const next = deriveMeshKey(secret);
    if (timingSafeEqual(next.key, this.#current.key)) return false;
    this.#previous = this.#current;
    this.#current = next;
    this.#next = null;
    return true;
  }

  /** The accepted key with this id, if any. */
  find(id: Uint8Array): MeshKey | undefined {
    for (const key of [this.#current, this.#previous, this.#next]) {
      if (key && sameBytes(key.id, id)) return key;
    }
    return undefined;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
