import { RoamError } from "../../errors/mod.ts";
import { normalizeHostUrl, RpcHttpClient } from "../../rpc/mod.ts";
import { sha256Hex } from "../record.ts";
import { type KeyPage, type ListOptions, newStats, type Pool, type PoolStats } from "./pool.ts";

/** Options for {@linkcode PeerPool}. */
export interface PeerPoolOptions {
  /** The name this pool is known by here. */
  name: string;
  /** The other host's base URL. */
  url: string;
  /** Where its RPC endpoint is, when not at `url` (tests serve the artifact routes apart). */
  rpcUrl?: string;
  /** A bearer token for it, or a function minting a fresh one per request. */
  token: string | (() => string);
  /** Its local pool to use. Default `local`. */
  pool?: string;
  /** Time limit per request. Default 60 000 ms. */
  timeoutMs?: number;
  /** Largest record accepted. Default 80 MiB. */
  maxRecordBytes?: number;
}

/**
 * Another host's local pool, over HTTP: record bytes travel to and from its
 * ArtifactStore (`PUT /artifacts`, `GET /artifacts/SHA256`, checked against
 * their sha256 here), and its record index is read and written with the
 * `memory.record*` RPC methods.
 */
export class PeerPool implements Pool {
  /** The pool's name here. */
  readonly name: string;
  /** Always `peer`. */
  readonly kind = "peer" as const;
  /** The other host. */
  readonly url: string;
  readonly #options: PeerPoolOptions;
  readonly #remote: string;
  readonly #stats = newStats();

  /** A pool backed by the host at `options.url`. */
  constructor(options: PeerPoolOptions) {
    this.name = options.name;
    this.url = normalizeHostUrl(options.url);
    this.#options = options;
    this.#remote = options.pool ?? "local";
  }

  async get(key: string): Promise<Uint8Array | null> {
    const { records } = await this.#call("memory.recordGet", {
      pool: this.#remote,
      keys: [key],
    }) as {
      records: ({ sha256: string; size: number } | null)[];
    };
    const link = records[0];
    const bytes = link ? await this.#download(link.sha256, link.size) : null;
    if (bytes) this.#stats.hits++;
    else this.#stats.misses++;
    return bytes;
  }

  async put(key: string, record: Uint8Array): Promise<void> {
    const sha256 = sha256Hex(record);
    const response = await this.#fetch(`${this.url}/artifacts`, {
      method: "PUT",
      body: record as Uint8Array<ArrayBuffer>,
      headers: { "content-type": "application/octet-stream", "x-roam-sha256": sha256 },
    });
    if (!response.ok) throw await httpError(response, `store a record on ${this.url}`);
    const stored = await response.json().catch(() => ({})) as { sha256?: string; size?: number };
    if (stored.sha256 !== sha256 || stored.size !== record.length) {
      throw new RoamError(
        "unavailable",
        `${this.url} stored a record as ${stored.sha256}, not ${sha256}`,
        {
          expected: sha256,
          got: stored.sha256,
        },
      );
    }
    await this.#call("memory.recordLink", { pool: this.#remote, key, sha256, size: record.length });
    this.#stats.puts++;
  }

  async delete(key: string): Promise<boolean> {
    const { deleted } = await this.#call("memory.recordDelete", {
      pool: this.#remote,
      keys: [key],
    }) as {
      deleted: number;
    };
    if (deleted) this.#stats.deletes++;
    return deleted > 0;
  }

  async has(key: string): Promise<boolean> {
    const { records } = await this.#call("memory.recordGet", {
      pool: this.#remote,
      keys: [key],
    }) as {
      records: unknown[];
    };
    return records[0] !== null;
  }

  async list(options: ListOptions = {}): Promise<KeyPage> {
    return await this.#call("memory.recordList", { pool: this.#remote, ...options }) as KeyPage;
  }

  stats(): PoolStats {
    return { ...this.#stats };
  }

  async #download(sha256: string, size: number): Promise<Uint8Array | null> {
    const max = this.#options.maxRecordBytes ?? 80 * 1024 * 1024;
    if (size > max) {
      throw new RoamError("too_large", `record ${sha256} is ${size} bytes, more than ${max}`, {
        sha256,
        size,
      });
    }
    const response = await this.#fetch(`${this.url}/artifacts/${sha256}`, { method: "GET" });
    if (response.status === 404) {
      await response.body?.cancel();
      return null;
    }
    if (!response.ok) throw await httpError(response, `read blob ${sha256} from ${this.url}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (bytes.length > max || sha256Hex(bytes) !== sha256) {
      throw new RoamError(
        "unavailable",
        `blob ${sha256} from ${this.url} does not match its sha256; refused`,
        {
          sha256,
          url: this.url,
        },
      );
    }
    return bytes;
  }

  #token(): string {
    const t = this.#options.token;
    return typeof t === "function" ? t() : t;
  }

  async #fetch(url: string, init: RequestInit): Promise<Response> {
    const timeoutMs = this.#options.timeoutMs ?? 60_000;
    try {
      return await fetch(url, {
        ...init,
        headers: {
          ...init.headers as Record<string, string>,
          authorization: `Bearer ${this.#token()}`,
        },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      if ((error as Error).name === "TimeoutError") {
        throw new RoamError("timeout", `${url} did not answer within ${timeoutMs} ms`, { url });
      }
      throw new RoamError("unavailable", `cannot reach ${url}: ${(error as Error).message}`, {
        url,
      });
    }
  }

  async #call(method: string, params: unknown): Promise<unknown> {
    const client = new RpcHttpClient({
      url: this.#options.rpcUrl ?? this.url,
      token: this.#token(),
      timeoutMs: this.#options.timeoutMs ?? 60_000,
    });
    return await client.call(method, params);
  }
}

async function httpError(response: Response, what: string): Promise<RoamError> {
  const text = (await response.text().catch(() => "")).slice(0, 300);
  const code = response.status === 401
    ? "unauthorized"
    : response.status === 413
    ? "too_large"
    : "unavailable";
  return new RoamError(code, `cannot ${what}: HTTP ${response.status} ${text}`.trim(), {
    status: response.status,
  });
}
