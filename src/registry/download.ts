import { createHash } from "node:crypto";
import { fileURLToPath as fromFileUrl } from "node:url";
import { RoamError } from "../errors/mod.ts";

/** Options for {@linkcode readBounded}. */
export interface ReadOptions {
  /** Most bytes taken; more is `too_large`. */
  maxBytes: number;
  /** Longest the whole read may take. */
  timeoutMs: number;
  /** Longest wait for the next bytes; default `timeoutMs`. */
  stallMs?: number;
  /** Cancels the read. */
  signal?: AbortSignal;
  /** Answer undefined, not `not_found`, when there is nothing at the URL. */
  optional?: boolean;
}

/** Options for {@linkcode downloadVerified}. */
export interface DownloadOptions {
  /** The exact size expected; a byte more stops the download. */
  size: number;
  /** The sha256 expected, 64 lowercase hex digits. */
  sha256: string;
  /** Longest the whole download may take. */
  timeoutMs: number;
  /** Longest wait for the next bytes (a stalled download is dropped); default `timeoutMs`. */
  stallMs?: number;
  /** Cancels the download. */
  signal?: AbortSignal;
  /** Told of the bytes received so far: at the first chunk, every 64 KiB, and at the end. */
  onProgress?: (received: number, total: number) => void;
}

/**
 * Read a small resource (an index, a signature) at an http(s) or file URL
 * into memory, never more than `maxBytes`.
 *
 * @throws {RoamError} `not_found` (unless `optional`), `too_large`, `timeout`, `unavailable`.
 */
export async function readBounded(
  url: URL,
  options: ReadOptions & { optional: true },
): Promise<Uint8Array | undefined>;
export async function readBounded(url: URL, options: ReadOptions): Promise<Uint8Array>;
export async function readBounded(
  url: URL,
  options: ReadOptions,
): Promise<Uint8Array | undefined> {
  using deadline = new Deadline(url, options);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const opened = await open(url, deadline.signal, options.optional);
  if (!opened) return undefined;
  await consume(opened, url, deadline, (chunk) => {
    size += chunk.byteLength;
    if (size > options.maxBytes) {
      throw new RoamError(
        "too_large",
        `${display(url)} is larger than ${options.maxBytes} bytes; is it really a registry index?`,
        { url: display(url), limit: options.maxBytes },
      );
    }
    chunks.push(chunk);
  });
  const out = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/**
 * Download an archive to `dest` (created, never overwritten), checking its
 * size and sha256 as the bytes arrive: a byte past `size` stops it at once,
 * and a wrong digest at the end is refused. `dest` may be left behind on
 * failure; it lives in the caller's staging dir.
 *
 * @throws {RoamError} `unavailable` (`data.tampered`) for a size or sha256 mismatch;
 * `not_found`, `timeout`, `unavailable`.
 */
export async function downloadVerified(
  url: URL,
  dest: string,
  options: DownloadOptions,
): Promise<void> {
  using deadline = new Deadline(url, options);
  const opened = await open(url, deadline.signal, false);
  const hash = createHash("sha256");
  let received = 0;
  let reported = 0;
  using out = await Deno.open(dest, { write: true, createNew: true, mode: 0o600 });
  await consume(opened!, url, deadline, async (chunk) => {
    received += chunk.byteLength;
    if (received > options.size) {
      throw mismatch(url, `is larger than the ${options.size} bytes the index says`, {
        expected: options.size,
      });
    }
    hash.update(chunk);
    let offset = 0;
    while (offset < chunk.byteLength) offset += await out.write(chunk.subarray(offset));
    if (reported === 0 || received - reported >= 64 * 1024) {
      reported = received;
      options.onProgress?.(received, options.size);
    }
  });
  options.onProgress?.(received, options.size);
  if (received !== options.size) {
    throw mismatch(url, `is ${received} bytes, not the ${options.size} the index says`, {
      expected: options.size,
      actual: received,
    });
  }
  const actual = hash.digest("hex");
  if (actual !== options.sha256) {
    throw mismatch(url, `has sha256 ${actual}, not the ${options.sha256} the index says`, {
      expected: options.sha256,
      actual,
    });
  }
  await out.sync();
}

type Opened = { stream: ReadableStream<Uint8Array>; close?: () => void };

async function open(
  url: URL,
  signal: AbortSignal,
  optional = false,
): Promise<Opened | undefined> {
  if (url.protocol === "file:") {
    try {
      const file = await Deno.open(fromFileUrl(url), { read: true });
      if ((await file.stat()).isDirectory) {
        file.close();
        throw new RoamError("invalid_input", `${display(url)} is a dir, not a file`, {
          url: display(url),
        });
      }
      return { stream: file.readable };
    } catch (error) {
      if (error instanceof RoamError) throw error;
      if (error instanceof Deno.errors.NotFound) {
        if (optional) return undefined;
        throw new RoamError("not_found", `${display(url)} does not exist`, { url: display(url) });
      }
      throw new RoamError(
        "unavailable",
        `cannot read ${display(url)}: ${(error as Error).message}`,
        {
          url: display(url),
        },
      );
    }
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new RoamError(
      "invalid_input",
      `${display(url)}: registries and archives are reached over http, https or file URLs only`,
      { url: display(url) },
    );
  }
  let response: Response;
  try {
    response = await fetch(url, { signal, redirect: "follow" });
  } catch (error) {
    if (signal.aborted) throw abortError(signal, url);
    throw new RoamError(
      "unavailable",
      `cannot reach ${display(url)}: ${(error as Error).message}`,
      { url: display(url) },
    );
  }
  if (response.status === 404 || response.status === 410) {
    await response.body?.cancel();
    if (optional) return undefined;
    throw new RoamError("not_found", `${display(url)} answered HTTP ${response.status}`, {
      url: display(url),
      status: response.status,
    });
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new RoamError(
      "unavailable",
      `${display(url)} answered HTTP ${response.status}; try again later`,
      { url: display(url), status: response.status },
    );
  }
  return { stream: response.body };
}

async function consume(
  opened: Opened,
  url: URL,
  deadline: Deadline,
  onChunk: (chunk: Uint8Array) => void | Promise<void>,
): Promise<void> {
  const { signal } = deadline;
  const reader = opened.stream.getReader();
  const onAbort = () => reader.cancel().catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    while (true) {
      if (signal.aborted) throw abortError(signal, url);
      let step: ReadableStreamReadResult<Uint8Array>;
      try {
        step = await reader.read();
      } catch (error) {
        if (signal.aborted) throw abortError(signal, url);
        throw new RoamError(
          "unavailable",
          `reading ${display(url)} failed: ${(error as Error).message}`,
          { url: display(url) },
        );
      }
      if (step.done) break;
      deadline.touch();
      await onChunk(step.value);
    }
    if (signal.aborted) throw abortError(signal, url);
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
}

/**
 * Aborts a read when it takes longer than `timeoutMs` in all, or when no
 * bytes arrive for `stallMs`, or when the caller's signal aborts.
 */
class Deadline implements Disposable {
  readonly #controller = new AbortController();
  readonly #total: ReturnType<typeof setTimeout>;
  #stall?: ReturnType<typeof setTimeout>;
  readonly #stallMs: number;
  readonly #url: URL;
  readonly #outer?: AbortSignal;
  readonly #onOuter = () => this.#controller.abort(this.#outer?.reason);

  constructor(url: URL, options: { timeoutMs: number; stallMs?: number; signal?: AbortSignal }) {
    this.#url = url;
    this.#stallMs = options.stallMs ?? options.timeoutMs;
    this.#total = setTimeout(() =>
      this.#controller.abort(
        new RoamError(
          "timeout",
          `${
            display(url)
          } did not arrive within ${options.timeoutMs} ms; try again, or raise registry.timeoutMs in the host config`,
          { url: display(url), timeoutMs: options.timeoutMs },
        ),
      ), options.timeoutMs);
    this.#outer = options.signal;
    if (this.#outer?.aborted) this.#onOuter();
    this.#outer?.addEventListener("abort", this.#onOuter, { once: true });
    this.touch();
  }

  /** Aborted when the read must stop; its reason says why. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Bytes arrived: the stall clock starts again. */
  touch(): void {
    clearTimeout(this.#stall);
    this.#stall = setTimeout(() =>
      this.#controller.abort(
        new RoamError(
          "timeout",
          `${
            display(this.#url)
          } sent nothing for ${this.#stallMs} ms and was dropped as stalled; try again, or raise registry.stallMs in the host config`,
          { url: display(this.#url), stallMs: this.#stallMs },
        ),
      ), this.#stallMs);
  }

  [Symbol.dispose](): void {
    clearTimeout(this.#total);
    clearTimeout(this.#stall);
    this.#outer?.removeEventListener("abort", this.#onOuter);
  }
}

function abortError(signal: AbortSignal, url: URL): RoamError {
  if (signal.reason instanceof RoamError) return signal.reason;
  return new RoamError("cancelled", `reading ${display(url)} was cancelled`, { url: display(url) });
}

function mismatch(url: URL, what: string, data: Record<string, unknown>): RoamError {
  return new RoamError(
    "unavailable",
    `the archive at ${
      display(url)
    } ${what}; it was changed or damaged after the index was made, and was not installed`,
    { url: display(url), tampered: true, ...data },
  );
}

/** A URL as shown to people: without any password in it. */
export function display(url: URL): string {
  if (!url.password && !url.username) return url.href;
  const copy = new URL(url.href);
  copy.username = "";
  copy.password = "";
  return copy.href;
}
