import { createHash } from "node:crypto";
import { RoamError } from "../errors/mod.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const GLOBAL_ID =
  /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):(0|[1-9][0-9]{0,14})$/;

/** The DNS namespace of RFC 4122 (appendix C), the root of roam's own namespace. */
export const NAMESPACE_DNS = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";

/** roam's namespace for nicknames: `uuidv5(NAMESPACE_DNS, "roam")`. */
export const ROAM_NAMESPACE = uuidv5(NAMESPACE_DNS, "roam");

/**
 * The namespace of manifest nicknames, `uuidv5(ROAM_NAMESPACE, "manifest")`,
 * so that an entry and a manifest of the same nickname never share an id.
 */
export const MANIFEST_NAMESPACE = uuidv5(ROAM_NAMESPACE, "manifest");

/** Largest evolution an entry may reach. */
export const MAX_EVOLUTION = Number.MAX_SAFE_INTEGER;

/** Rules for a nickname: 1 to 256 characters with no control characters. */
export const NICKNAME_MAX = 256;

/** Whether `value` is a lowercase RFC 4122 UUID string. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/**
 * A name-based UUID, version 5 (RFC 4122 section 4.3): SHA-1 of the
 * namespace's 16 bytes followed by the name in UTF-8, with the version and
 * variant bits set.
 *
 * @example
 * uuidv5(NAMESPACE_DNS, "python.org"); // "886313e1-3b8a-5372-9b90-0c9aee199e5d"
 */
export function uuidv5(namespace: string, name: string): string {
  const ns = namespace.toLowerCase();
  if (!isUuid(ns)) {
    throw new RoamError("invalid_input", `"${namespace}" is not a UUID namespace`, { namespace });
  }
  const nsBytes = hexBytes(ns.replaceAll("-", ""));
  const digest = createHash("sha1").update(nsBytes).update(new TextEncoder().encode(name))
    .digest();
  const bytes = new Uint8Array(digest.subarray(0, 16));
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20)
  }`;
}

/**
 * The namespace a key names: a UUID as it is, any other string as
 * `uuidv5(NAMESPACE_DNS, key)` (so `"example.org"` gives the same namespace
 * everywhere).
 */
export function namespaceFor(key: string): string {
  return isUuid(key.toLowerCase()) ? key.toLowerCase() : uuidv5(NAMESPACE_DNS, key);
}

/** Check a nickname and return it. */
export function checkNickname(nickname: string): string {
  if (
    typeof nickname !== "string" || nickname.length === 0 || nickname.length > NICKNAME_MAX ||
    // deno-lint-ignore no-control-regex
    /[\u0000-\u001f\u007f]/.test(nickname)
  ) {
    throw new RoamError(
      "invalid_input",
      `a nickname is 1 to ${NICKNAME_MAX} characters without control characters, got ${
        JSON.stringify(String(nickname).slice(0, 40))
      }`,
      { nickname },
    );
  }
  return nickname;
}

/**
 * The uuid a nickname always maps to: `uuidv5(namespace, nickname)`, with
 * {@linkcode ROAM_NAMESPACE} by default. Every host and script computes the
 * same one, so an entry can be found by its nickname alone.
 */
export function nicknameUuid(nickname: string, namespace: string = ROAM_NAMESPACE): string {
  return uuidv5(namespace, checkNickname(nickname));
}

/** The uuid of a manifest's nickname (its own namespace, apart from entries). */
export function manifestUuid(nickname: string): string {
  return uuidv5(MANIFEST_NAMESPACE, checkNickname(nickname));
}

/** An entry's identity: which object, and which version of it. */
export interface EntryIdentity {
  /** The object, across all its versions. */
  uuid: string;
  /** The version: 0 first, one more at each `evolve()`. */
  evolution: number;
}

/** The global id of one version of an entry: `uuid:evolution`. */
export function globalId(uuid: string, evolution: number): string {
  if (!isUuid(uuid)) throw new RoamError("invalid_input", `"${uuid}" is not a UUID`, { uuid });
  if (!Number.isSafeInteger(evolution) || evolution < 0) {
    throw new RoamError("invalid_input", `an evolution is a whole number ≥ 0, got ${evolution}`, {
      evolution,
    });
  }
  return `${uuid}:${evolution}`;
}

/** Whether `value` is a well-formed global id (`uuid:evolution`). */
export function isGlobalId(value: unknown): value is string {
  return typeof value === "string" && GLOBAL_ID.test(value);
}

/** Split a global id into uuid and evolution; a malformed one is an `invalid_input` error. */
export function parseGlobalId(id: string): EntryIdentity {
  const m = typeof id === "string" ? GLOBAL_ID.exec(id) : null;
  if (!m) {
    throw new RoamError(
      "invalid_input",
      `"${
        String(id).slice(0, 80)
      }" is not an entry id; an id is UUID:EVOLUTION, like ${ROAM_NAMESPACE}:0`,
      { id },
    );
  }
  return { uuid: m[1], evolution: Number(m[2]) };
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
