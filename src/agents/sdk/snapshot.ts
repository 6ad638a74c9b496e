/** Raised when agent state is not plain JSON data. */
export class SerializationError extends Error {
  /** Where in the value the problem is, like `state.items[2].fn`. */
  readonly path: string;

  /** Make the error for the value at `path`. */
  constructor(path: string, problem: string) {
    super(
      `${path} ${problem}; agent state must be plain JSON data (objects, arrays, strings, finite numbers, booleans, null)`,
    );
    this.name = "SerializationError";
    this.path = path;
  }
}

/** Most nesting accepted in a state snapshot. */
export const MAX_STATE_DEPTH = 64;

/**
 * Check that `value` is plain JSON data: no functions, no cycles, no class
 * instances (Date, Map, a class of the agent's), no undefined inside arrays,
 * no non-finite numbers. Throws a {@linkcode SerializationError} naming the
 * first offending path.
 */
export function assertJsonSafe(value: unknown, path = "state"): void {
  const seen = new Set<object>();
  const walk = (v: unknown, at: string, depth: number): void => {
    if (v === null || typeof v === "string" || typeof v === "boolean") return;
    if (typeof v === "number") {
      if (!Number.isFinite(v)) throw new SerializationError(at, `is ${v}`);
      return;
    }
    if (typeof v === "function") throw new SerializationError(at, "is a function");
    if (typeof v === "bigint") throw new SerializationError(at, "is a bigint");
    if (typeof v === "symbol") throw new SerializationError(at, "is a symbol");
    if (v === undefined) throw new SerializationError(at, "is undefined");
    if (depth > MAX_STATE_DEPTH) {
      throw new SerializationError(at, `is nested deeper than ${MAX_STATE_DEPTH}`);
    }
    const obj = v as object;
    if (seen.has(obj)) throw new SerializationError(at, "is a cycle (it contains itself)");
    seen.add(obj);
    if (Array.isArray(obj)) {
      obj.forEach((item, i) => walk(item, `${at}[${i}]`, depth + 1));
    } else {
      const proto = Object.getPrototypeOf(obj);
      if (proto !== Object.prototype && proto !== null) {
        throw new SerializationError(
          at,
          `is an instance of ${proto?.constructor?.name ?? "a class"}`,
        );
      }
      for (const [key, item] of Object.entries(obj)) {
        // Undefined object members vanish in JSON, as they do in JSON.stringify.
        if (item !== undefined) walk(item, `${at}.${key}`, depth + 1);
      }
    }
    seen.delete(obj);
  };
  walk(value, path, 0);
}
