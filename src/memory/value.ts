import { RoamError } from "../errors/mod.ts";

/** JSON data: what an entry may hold besides bytes. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** What an entry holds: JSON data or bytes. Never code: nothing stored is ever evaluated. */
export type EntryValue = JsonValue | Uint8Array;

/** Deepest nesting a JSON value may have. */
export const MAX_JSON_DEPTH = 64;

/**
 * A frozen private copy of `value`, checked to be plain JSON data or bytes.
 * Functions, class instances, `undefined`, cycles, NaN and Infinity are
 * refused with `invalid_input`, so that a stored value never aliases the
 * caller's object and never carries behaviour.
 */
export function freezeValue(value: unknown): EntryValue {
  if (value instanceof Uint8Array) return new Uint8Array(value);
  return copyJson(value, 0, "value") as JsonValue;
}

/** Whether a value is bytes rather than JSON. */
export function isBytes(value: EntryValue): value is Uint8Array {
  return value instanceof Uint8Array;
}

/** The value as the bytes a record stores: JSON text in UTF-8, or the bytes themselves. */
export function serializeValue(value: EntryValue): { type: "json" | "bytes"; bytes: Uint8Array } {
  if (isBytes(value)) return { type: "bytes", bytes: value };
  return { type: "json", bytes: new TextEncoder().encode(JSON.stringify(value)) };
}

/** The inverse of {@linkcode serializeValue}; JSON is parsed as data, never evaluated. */
export function deserializeValue(type: "json" | "bytes", bytes: Uint8Array): EntryValue {
  if (type === "bytes") return bytes;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw new RoamError(
      "invalid_input",
      `a stored JSON value does not parse: ${(error as Error).message}`,
    );
  }
  return freezeValue(parsed);
}

function copyJson(value: unknown, depth: number, path: string): unknown {
  if (depth > MAX_JSON_DEPTH) {
    throw new RoamError("invalid_input", `${path} is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      throw new RoamError("invalid_input", `${path} is ${value}, which JSON cannot hold`);
    }
    return value;
  }
  if (Array.isArray(value)) {
    return Object.freeze(value.map((v, i) => copyJson(v, depth + 1, `${path}[${i}]`)));
  }
  if (typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new RoamError(
        "invalid_input",
        `${path} is a ${
          (value as object).constructor?.name ?? "class instance"
        }; an entry holds plain JSON data or a Uint8Array`,
      );
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = copyJson(v, depth + 1, `${path}.${k}`);
    }
    return Object.freeze(out);
  }
  throw new RoamError(
    "invalid_input",
    `${path} is a ${typeof value}; an entry holds plain JSON data or a Uint8Array`,
  );
}
