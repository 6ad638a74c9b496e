import { AwsClient } from "aws4fetch";
import { RoamError } from "../../errors/mod.ts";
import type { S3Secret } from "../secrets.ts";
import {
  type KeyPage,
  type ListOptions,
  newStats,
  pageSize,
  type Pool,
  type PoolStats,
} from "./pool.ts";

/** Options for {@linkcode S3Pool}. */
export interface S3PoolOptions {
  /** The pool's name; its records live under `PREFIX<name>/` in the bucket. */
  name: string;
  /** Endpoint, bucket and credentials (from the memory secrets file). */
  secret: S3Secret;
  /** Time limit per request. Default 60 000 ms. */
  timeoutMs?: number;
  /** Largest record read. Default 80 MiB. */
  maxRecordBytes?: number;
}

/**
 * Records in an S3-compatible bucket, one object per key under the pool's
 * own prefix (never the bucket root), requests signed with AWS Signature V4
 * by `aws4fetch` and sent with `fetch`.
 */
export class S3Pool implements Pool {
  /** The pool's name. */
  readonly name: string;
  /** Always `s3`. */
  readonly kind = "s3" as const;
  readonly #aws: AwsClient;
  readonly #base: string;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  readonly #stats = newStats();

  /** A pool in `options.secret.bucket`. */
  constructor(options: S3PoolOptions) {
    const s = options.secret;
    this.name = options.name;
    this.#aws = new AwsClient({
      accessKeyId: s.accessKeyId,
      secretAccessKey: s.secretAccessKey,
      sessionToken: s.sessionToken,
      region: s.region,
      service: "s3",
      retries: 2,
    });
    this.#base = `${s.endpoint.replace(/\/+$/, "")}/${s.bucket}`;
    this.#prefix = `${s.prefix}${options.name}/`;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#maxBytes = options.maxRecordBytes ?? 80 * 1024 * 1024;
  }

  async get(key: string): Promise<Uint8Array | null> {
    const response = await this.#send(this.#url(key), { method: "GET" });
    if (response.status === 404) {
      await response.body?.cancel();
      this.#stats.misses++;
      return null;
    }
    if (!response.ok) throw await s3Error(response, `read ${key}`);
    const length = Number(response.headers.get("content-length") ?? "0");
    if (length > this.#maxBytes) {
      await response.body?.cancel();
      throw new RoamError(
        "too_large",
        `S3 object for ${key} is ${length} bytes, more than ${this.#maxBytes}`,
      );
    }
    this.#stats.hits++;
    return new Uint8Array(await response.arrayBuffer());
  }

  async put(key: string, record: Uint8Array): Promise<void> {
    const response = await this.#send(this.#url(key), {
      method: "PUT",
      body: record as Uint8Array<ArrayBuffer>,
      headers: { "content-type": "application/vnd.roam.record" },
    });
    if (!response.ok) throw await s3Error(response, `write ${key}`);
    await response.body?.cancel();
    this.#stats.puts++;
  }

  /**
   * Store a record only if the key holds none: a look first, then a
   * conditional PUT (`If-None-Match: *`), which S3, MinIO and moto refuse
   * with 412 when another writer got there in between.
   */
  async create(key: string, record: Uint8Array): Promise<boolean> {
    if (await this.has(key)) return false;
    const response = await this.#send(this.#url(key), {
      method: "PUT",
      body: record as Uint8Array<ArrayBuffer>,
      headers: { "content-type": "application/vnd.roam.record", "if-none-match": "*" },
    });
    if (response.status === 412 || response.status === 409) {
      await response.body?.cancel();
      return false;
    }
    if (!response.ok) throw await s3Error(response, `write ${key}`);
    await response.body?.cancel();
    this.#stats.puts++;
    return true;
  }

  async delete(key: string): Promise<boolean> {
    const had = await this.has(key);
    if (!had) return false;
    const response = await this.#send(this.#url(key), { method: "DELETE" });
    if (!response.ok && response.status !== 404) throw await s3Error(response, `delete ${key}`);
    await response.body?.cancel();
    this.#stats.deletes++;
    return true;
  }

  async has(key: string): Promise<boolean> {
    const response = await this.#send(this.#url(key), { method: "HEAD" });
    await response.body?.cancel();
    if (response.status === 404) return false;
    if (!response.ok) throw await s3Error(response, `look up ${key}`);
    return true;
  }

  async list(options: ListOptions = {}): Promise<KeyPage> {
    const limit = pageSize(options.limit);
    const query = new URLSearchParams({
      "list-type": "2",
      prefix: this.#prefix + (options.prefix ?? ""),
      "max-keys": String(Math.min(1000, limit)),
    });
    if (options.after !== undefined) query.set("start-after", this.#prefix + options.after);
    const response = await this.#send(`${this.#base}?${query}`, { method: "GET" });
    if (!response.ok) throw await s3Error(response, "list keys");
    const xml = await response.text();
    const keys = [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)]
      .map((m) => unescapeXml(m[1]))
      .filter((k) => k.startsWith(this.#prefix))
      .map((k) => k.slice(this.#prefix.length));
    const truncated = /<IsTruncated>true<\/IsTruncated>/.test(xml);
    return truncated && keys.length ? { keys, next: keys[keys.length - 1] } : { keys };
  }

  stats(): PoolStats {
    return { ...this.#stats };
  }

  #url(key: string): string {
    return `${this.#base}/${(this.#prefix + key).split("/").map(encodeURIComponent).join("/")}`;
  }

  async #send(url: string, init: RequestInit): Promise<Response> {
    try {
      return await this.#aws.fetch(url, { ...init, signal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (error) {
      if ((error as Error).name === "TimeoutError") {
        throw new RoamError(
          "timeout",
          `the S3 endpoint did not answer within ${this.#timeoutMs} ms`,
        );
      }
      throw new RoamError(
        "unavailable",
        `cannot reach the S3 endpoint: ${(error as Error).message}`,
      );
    }
  }
}

async function s3Error(response: Response, what: string): Promise<RoamError> {
  const text = await response.text().catch(() => "");
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? `HTTP ${response.status}`;
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? "";
  const roamCode = response.status === 403 || response.status === 401 ? "forbidden" : "unavailable";
  return new RoamError(roamCode, `S3 refused to ${what}: ${code} ${message}`.trim(), {
    status: response.status,
    s3Code: code,
  });
}

function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos|#(\d+)|#x([0-9a-fA-F]+));/g, (_, name, dec, hex) => {
    if (dec) return String.fromCodePoint(Number(dec));
    if (hex) return String.fromCodePoint(parseInt(hex, 16));
    return { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" }[name as string]!;
  });
}
