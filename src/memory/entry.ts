import { RoamError } from "../errors/mod.ts";
import { globalId, isUuid, manifestUuid, nicknameUuid, parseGlobalId } from "./identity.ts";
import { type EntryValue, freezeValue } from "./value.ts";

/**
 * What kind of entry: a `constant` never changes; a `variable` makes new
 * versions with `evolve()`; a `manifest` holds a blueprint of entry ids and
 * gets a new version each time it is stored with other content.
 */
export type EntryKind = "constant" | "variable" | "manifest";

/** Fields of {@linkcode Entry}. */
export interface EntryInit {
  /** The object. */
  uuid: string;
  /** The version; 0 first. */
  evolution: number;
  /** Constant, variable or manifest. */
  kind: EntryKind;
  /** JSON data or bytes (copied and frozen). */
  value: unknown;
  /** The nickname it was made from, when it was. */
  nickname?: string;
  /** When it was stored, for entries read back. */
  createdAt?: string;
}

/**
 * One immutable version of a piece of data: a uuid (the object), an
 * evolution (the version) and a global id `uuid:evolution` that names it in
 * every pool. Its value is a frozen copy, so later changes to the caller's
 * object never reach it.
 *
 * @example
 * const v0 = variable({ step: 0 }, { nickname: "trainer.state" });
 * const v1 = v0.evolve({ step: 1 }); // same uuid, evolution 1
 * console.log(v1.id); // "<uuid>:1"
 */
export class Entry {
  /** The object, the same across versions. */
  readonly uuid: string;
  /** The version. */
  readonly evolution: number;
  /** Constant, variable or manifest. */
  readonly kind: EntryKind;
  /** The data (frozen JSON, or a private copy of the bytes). */
  readonly value: EntryValue;
  /** The nickname it was made from, if any. */
  readonly nickname?: string;
  /** When it was stored (entries read back from a pool). */
  readonly createdAt?: string;

  /** Prefer {@linkcode constant}, {@linkcode variable} and `evolve()`. */
  constructor(init: EntryInit) {
    if (!isUuid(init.uuid)) {
      throw new RoamError("invalid_input", `"${init.uuid}" is not a UUID`, { uuid: init.uuid });
    }
    globalId(init.uuid, init.evolution);
    this.uuid = init.uuid;
    this.evolution = init.evolution;
    this.kind = init.kind;
    this.value = freezeValue(init.value);
    if (init.nickname !== undefined) this.nickname = init.nickname;
    if (init.createdAt !== undefined) this.createdAt = init.createdAt;
    Object.freeze(this);
  }

  /** The global id, `uuid:evolution`. */
  get id(): string {
    return `${this.uuid}:${this.evolution}`;
  }

  /** Whether this entry can `evolve()`. */
  get variable(): boolean {
    return this.kind === "variable";
  }

  /**
   * The next version: a new entry with the same uuid, evolution + 1 and the
   * new value. This one is left as it is. A constant or a manifest cannot
   * evolve (`invalid_input`).
   */
  evolve(value: unknown): Entry {
    if (this.kind !== "variable") {
      throw new RoamError(
        "invalid_input",
        `entry ${this.id} is a ${this.kind} and cannot evolve; make it with variable() to version it`,
        { id: this.id },
      );
    }
    return new Entry({
      uuid: this.uuid,
      evolution: this.evolution + 1,
      kind: "variable",
      value,
      nickname: this.nickname,
    });
  }

  /** A short description for logs. */
  toString(): string {
    return `Entry(${this.kind} ${this.id}${this.nickname ? ` "${this.nickname}"` : ""})`;
  }
}

/** Where an entry's uuid comes from: a nickname (deterministic), a uuid, or neither (random). */
export interface IdentityOptions {
  /** Map to `uuidv5(namespace, nickname)`: the same entry id on every host. */
  nickname?: string;
  /** The uuid to use. */
  uuid?: string;
  /** The namespace for the nickname (a UUID); default roam's. */
  namespace?: string;
}

/**
 * An entry that never changes: evolution 0, and `evolve()` refuses.
 *
 * @example
 * const labels = constant(["cat", "dog"], { nickname: "dataset.labels" });
 */
export function constant(value: unknown, options: IdentityOptions = {}): Entry {
  return new Entry({
    uuid: pickUuid(options),
    evolution: 0,
    kind: "constant",
    value,
    nickname: options.nickname,
  });
}

/**
 * A versioned entry, at `evolution` (default 0); `evolve()` makes the next
 * version.
 */
export function variable(
  value: unknown,
  options: IdentityOptions & { evolution?: number } = {},
): Entry {
  return new Entry({
    uuid: pickUuid(options),
    evolution: options.evolution ?? 0,
    kind: "variable",
    value,
    nickname: options.nickname,
  });
}

/** Options naming an entry to read: an id, or a nickname with an evolution. */
export type EntryRef =
  | string
  | { id: string }
  | { nickname: string; evolution?: number | "latest"; namespace?: string }
  | { uuid: string; evolution?: number | "latest" };

/** A reference made concrete: an exact id, or a uuid whose latest evolution is wanted. */
export type ResolvedRef = { id: string } | { uuid: string; latest: true };

/**
 * Turn a reference into an exact id or a "latest of this uuid" request.
 * A nickname without an evolution means the latest one.
 */
export function resolveRef(ref: EntryRef, kind: "entry" | "manifest" = "entry"): ResolvedRef {
  if (typeof ref === "string") {
    parseGlobalId(ref);
    return { id: ref };
  }
  if ("id" in ref) {
    parseGlobalId(ref.id);
    return { id: ref.id };
  }
  const uuid = "nickname" in ref
    ? (kind === "manifest" ? manifestUuid(ref.nickname) : nicknameUuid(ref.nickname, ref.namespace))
    : ref.uuid;
  if (!isUuid(uuid)) throw new RoamError("invalid_input", `"${uuid}" is not a UUID`, { uuid });
  const evolution = ref.evolution ?? "latest";
  return evolution === "latest" ? { uuid, latest: true } : { id: globalId(uuid, evolution) };
}

function pickUuid(options: IdentityOptions): string {
  if (options.nickname !== undefined && options.uuid !== undefined) {
    throw new RoamError("invalid_input", "give a nickname or a uuid, not both", {});
  }
  if (options.nickname !== undefined) return nicknameUuid(options.nickname, options.namespace);
  if (options.uuid !== undefined) {
    if (!isUuid(options.uuid)) {
      throw new RoamError("invalid_input", `"${options.uuid}" is not a UUID`, {
        uuid: options.uuid,
      });
    }
    return options.uuid;
  }
  return crypto.randomUUID();
}
