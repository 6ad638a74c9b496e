import { join } from "node:path";
import { RoamError } from "../errors/mod.ts";

/** Options for {@linkcode AgentStorage}. */
export interface AgentStorageOptions {
  /** The host's data dir; plugin storage lives in `DATA_DIR/agents/storage/<plugin>`. */
  dataDir: string;
  /** Most bytes one plugin's storage dir may hold, counting every file in it. Default 64 MiB. */
  quotaBytes?: number;
  /** Largest value `put` takes. Default 8 MiB. */
  maxValueBytes?: number;
  /** Most keys one plugin may store; `list` returns at most this many. Default 10 000. */
  maxKeys?: number;
}

/** A key: 1 to 200 of `A-Z a-z 0-9 . _ -`, not `.` and without `..`. */
const KEY = /^[A-Za-z0-9._-]{1,200}$/;
/** Plugin names as the plugin store accepts them; anything else never becomes a path. */
const PLUGIN = /^[a-z][a-z0-9-]{0,63}$/;

/**
 * The host side of `ctx.storage`: a key-value store per plugin, one file per
 * key under `DATA_DIR/agents/storage/<plugin>/kv/`, shared by every agent of
 * that plugin and kept across restarts. Writes are atomic (a temp file, then
 * a rename). A quota bounds the whole plugin dir, files the agents wrote
 * there directly included.
 *
 * @example
 * const storage = new AgentStorage({ dataDir, quotaBytes: 1 << 20 });
 * await storage.put("echo", "greeting", new TextEncoder().encode("hi"));
 * await storage.get("echo", "greeting"); // Uint8Array [104, 105]
 */
export class AgentStorage {
  readonly #root: string;
  readonly #quota: number;
  readonly #maxValue: number;
  readonly #maxKeys: number;
  readonly #locks = new Map<string, Promise<unknown>>();

  /** Keep plugin storage under `options.dataDir`. */
  constructor(options: AgentStorageOptions) {
    this.#root = join(options.dataDir, "agents", "storage");
    this.#quota = options.quotaBytes ?? 64 * 1024 * 1024;
    this.#maxValue = options.maxValueBytes ?? 8 * 1024 * 1024;
    this.#maxKeys = options.maxKeys ?? 10_000;
  }

  /** The quota of each plugin, in bytes. */
  get quotaBytes(): number {
    return this.#quota;
  }

  /** A plugin's storage dir (what agents see as `ctx.storage.dir`). */
  dirOf(plugin: string): string {
    if (!PLUGIN.test(plugin)) {
      throw new RoamError(
        "unavailable",
        `storage is not available to this agent yet (no plugin is known for it); use it from a message handler`,
        { plugin },
      );
    }
    return join(this.#root, plugin);
  }

  /**
   * Store `value` under `key`, replacing what was there.
   *
   * @throws {RoamError} `invalid_input` for a bad key, `too_large` past the value limit,
   * `quota_exceeded` when the plugin dir would grow past its quota or key limit.
   */
  async put(plugin: string, key: string, value: Uint8Array): Promise<void> {
    const kv = this.#kv(plugin);
    const path = join(kv, checkKey(key));
    if (value.byteLength > this.#maxValue) {
      throw new RoamError(
        "too_large",
        `a stored value may be at most ${this.#maxValue} bytes; this one is ${value.byteLength}; split it over several keys or write a file in ctx.storage.dir`,
        { size: value.byteLength, limit: this.#maxValue },
      );
    }
    // One put at a time per plugin, so that two cannot both pass the quota check.
    await this.#locked(plugin, async () => {
      const dir = this.dirOf(plugin);
      const previous = await sizeOf(path);
      const used = await usage(dir);
      if (used - (previous ?? 0) + value.byteLength > this.#quota) {
        throw new RoamError(
          "quota_exceeded",
          `plugin ${plugin} storage is full: ${used} of ${this.#quota} bytes used, and this value needs ${value.byteLength}; delete keys with ctx.storage.delete or files in ${dir}, or raise the host's agent storage quota`,
          { plugin, used, limit: this.#quota, size: value.byteLength },
        );
      }
      if (previous === undefined && (await this.#keys(kv)).length >= this.#maxKeys) {
        throw new RoamError(
          "quota_exceeded",
          `plugin ${plugin} stores ${this.#maxKeys} keys already, the most it may; delete some with ctx.storage.delete`,
          { plugin, keys: this.#maxKeys, limit: this.#maxKeys },
        );
      }
      const tmpDir = join(dir, ".tmp");
      await Deno.mkdir(kv, { recursive: true });
      await Deno.mkdir(tmpDir, { recursive: true });
      const tmp = join(tmpDir, `${crypto.randomUUID()}.part`);
      try {
        using file = await Deno.open(tmp, { write: true, createNew: true });
        let offset = 0;
        while (offset < value.byteLength) offset += await file.write(value.subarray(offset));
        await file.syncData();
        await Deno.rename(tmp, path);
      } catch (error) {
        await Deno.remove(tmp).catch(() => {});
        throw error;
      }
    });
  }

  /** The value under `key`, or null when there is none. */
  async get(plugin: string, key: string): Promise<Uint8Array | null> {
    const path = join(this.#kv(plugin), checkKey(key));
    try {
      // Agents cannot make links with path-scoped permissions, but the host never follows one here.
      const info = await Deno.lstat(path);
      if (!info.isFile) return null;
      // The agent may have put a larger file there directly; it would not fit the worker link.
      const size = info.size;
      if (size > this.#maxValue) {
        throw new RoamError(
          "too_large",
          `stored value ${key} is ${size} bytes, over the ${this.#maxValue} byte limit of ctx.storage.get; read it as a file from ctx.storage.dir`,
          { key, size, limit: this.#maxValue },
        );
      }
      return await Deno.readFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
  }

  /** Remove `key`; returns whether it was there. */
  async delete(plugin: string, key: string): Promise<boolean> {
    const path = join(this.#kv(plugin), checkKey(key));
    try {
      await Deno.remove(path);
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  }

  /** The stored keys, sorted, optionally only those starting with `prefix`. */
  async list(plugin: string, prefix = ""): Promise<string[]> {
    return (await this.#keys(this.#kv(plugin))).filter((k) => k.startsWith(prefix)).sort();
  }

  /** Bytes used by a plugin's storage dir, every file in it counted. */
  usage(plugin: string): Promise<number> {
    return usage(this.dirOf(plugin));
  }

  /**
   * Serve a `storage.*` request from an agent of `plugin`. Values cross the
   * worker boundary as base64 strings (a byte array is accepted too).
   */
  async request(
    plugin: string,
    method: string,
    params: Record<string, unknown>,
  ): Promise<unknown> {
    const key = () => {
      if (typeof params.key !== "string") {
        throw new RoamError("invalid_input", "a storage key must be a string", {});
      }
      return params.key;
    };
    switch (method) {
      case "storage.put":
        await this.put(plugin, key(), decodeValue(params.value, this.#maxValue));
        return null;
      case "storage.get": {
        const value = await this.get(plugin, key());
        return value === null ? null : value.toBase64();
      }
      case "storage.delete":
        await this.delete(plugin, key());
        return null;
      case "storage.list":
        return await this.list(plugin, typeof params.prefix === "string" ? params.prefix : "");
      default:
        throw new RoamError("unsupported", `${method} is not a storage method`, { method });
    }
  }

  #kv(plugin: string): string {
    return join(this.dirOf(plugin), "kv");
  }

  async #keys(kv: string): Promise<string[]> {
    const keys: string[] = [];
    try {
      for await (const entry of Deno.readDir(kv)) {
        if (entry.isFile && validKey(entry.name)) keys.push(entry.name);
        if (keys.length >= this.#maxKeys) break;
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return keys;
  }

  async #locked<T>(plugin: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(plugin) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(fn);
    this.#locks.set(plugin, run);
    try {
      return await run;
    } finally {
      if (this.#locks.get(plugin) === run) this.#locks.delete(plugin);
    }
  }
}

function validKey(key: string): boolean {
  return KEY.test(key) && key !== "." && !key.includes("..");
}

function checkKey(key: string): string {
  if (!validKey(key)) {
    throw new RoamError(
      "invalid_input",
      `storage key ${
        JSON.stringify(key.slice(0, 210))
      } is not valid: use 1 to 200 of A-Z a-z 0-9 . _ - (not "." and without "..")`,
      { key: key.slice(0, 210) },
    );
  }
  return key;
}

function decodeValue(value: unknown, limit: number): Uint8Array {
  if (typeof value === "string") {
    // base64 is 4 characters per 3 bytes; refuse a huge string before decoding it.
    if (value.length > Math.ceil(limit / 3) * 4 + 4) {
      throw new RoamError(
        "too_large",
        `a stored value may be at most ${limit} bytes; split it over several keys`,
        { limit },
      );
    }
    try {
      return Uint8Array.fromBase64(value);
    } catch {
      throw new RoamError("invalid_input", "a storage value must be base64 text", {});
    }
  }
  if (Array.isArray(value) && value.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) {
    return Uint8Array.from(value as number[]);
  }
  throw new RoamError("invalid_input", "a storage value must be bytes (base64 text)", {});
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await Deno.lstat(path)).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Bytes of every file under `dir` (links counted as themselves, never followed). */
async function usage(dir: string): Promise<number> {
  let total = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const current = stack.pop()!;
    try {
      for await (const entry of Deno.readDir(current)) {
        const path = join(current, entry.name);
        if (entry.isDirectory) stack.push(path);
        else total += (await sizeOf(path)) ?? 0;
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return total;
}
