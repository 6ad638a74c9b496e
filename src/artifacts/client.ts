import { createHash, type Hash } from "node:crypto";
import { feedFile } from "./hash_file.ts";
import { ERROR_CODE_NAMES, type ErrorCode, RoamError } from "../errors/mod.ts";
import { normalizeHostUrl } from "../rpc/mod.ts";
import { EXPIRES_HEADER, NAME_HEADER } from "./http.ts";
import { putStream } from "./http_put.ts";
import { BatchedWriter } from "./stream.ts";

/** Where a transfer goes, and how it reports progress. */
export interface TransferTarget {
  /** The host's base URL. */
  url: string;
  /** A bearer token it accepts. */
  token?: string;
  /** Called with the bytes moved so far (and the total, when known), as chunks pass. */
  onProgress?: (done: number, total: number | undefined) => void;
}

/** Options for {@linkcode uploadArtifact}. */
export interface UploadOptions {
  name?: string;
  mediaType?: string;
  /** Seconds until it expires. */
  expiresInS?: number;
  /** The size, when known (for progress). */
  size?: number;
}

/**
 * Stream bytes to a host's ArtifactStore (`PUT /artifacts`), hashing them
 * on the way, and check that the host stored what was sent.
 */
export async function uploadArtifact(
  target: TransferTarget,
  body: ReadableStream<Uint8Array>,
  options: UploadOptions = {},
): Promise<{ sha256: string; size: number; created: boolean }> {
  const hash = createHash("sha256");
  let done = 0;
  const counted = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        hash.update(chunk);
        done += chunk.byteLength;
        target.onProgress?.(done, options.size);
        controller.enqueue(chunk);
      },
    }),
  );
  const headers: Record<string, string> = {
    "content-type": options.mediaType ?? "application/octet-stream",
  };
  if (target.token) headers.authorization = `Bearer ${target.token}`;
  if (options.name) headers[NAME_HEADER] = encodeURIComponent(options.name);
  if (options.expiresInS) headers[EXPIRES_HEADER] = String(options.expiresInS);
  if (options.size !== undefined) headers["content-length"] = String(options.size);
  const url = `${normalizeHostUrl(target.url)}/artifacts`;
  let answer: { status: number; text: string };
  try {
    answer = await putStream(url, headers, counted);
  } catch (error) {
    throw new RoamError(
      "unavailable",
      `the upload to ${url} broke off: ${(error as Error).message}; is 'roam host' running there?`,
      { url },
    );
  }
  const response = new Response(answer.text, { status: answer.status });
  if (response.status !== 200 && response.status !== 201) throw await errorOf(response, url);
  const result = await response.json() as { sha256: string; size: number };
  const sent = hash.digest("hex");
  if (result.sha256 !== sent || result.size !== done) {
    throw new RoamError(
      "unavailable",
      `the host stored ${result.size} bytes with sha256 ${result.sha256}, but ${done} bytes with sha256 ${sent} were sent; upload again`,
      { sent, stored: result.sha256 },
    );
  }
  return { sha256: sent, size: done, created: answer.status === 201 };
}

/**
 * Download a blob to a file, resuming when the file holds the start of it
 * already (a Range request for the rest), or to a writable stream; the
 * whole is checked against `sha256` at the end.
 *
 * @throws {RoamError} `conflict` when the bytes (the part already there
 * included) do not have that sha256.
 */
export async function downloadArtifact(
  target: TransferTarget,
  sha256: string,
  out: { path: string } | { stream: WritableStream<Uint8Array> },
): Promise<{ size: number; resumedAt: number }> {
  const url = `${normalizeHostUrl(target.url)}/artifacts/${sha256}`;
  const headers: Record<string, string> = {};
  if (target.token) headers.authorization = `Bearer ${target.token}`;
  const hash = createHash("sha256");
  let have = 0;
  if ("path" in out) {
    have = (await Deno.stat(out.path).catch(() => undefined))?.size ?? 0;
    if (have > 0) {
      const head = await send(url, { method: "HEAD", headers });
      if (head.status !== 200) throw await errorOf(head, url);
      const total = Number(head.headers.get("content-length"));
      if (have > total) {
        throw new RoamError(
          "conflict",
          `${out.path} has ${have} bytes, more than the blob's ${total}; it is another file: remove it or choose another -o`,
          { path: out.path, have, total },
        );
      }
      await feedFile(out.path, hash);
      if (have === total) return finish(hash, sha256, total, have, out.path);
      headers.range = `bytes=${have}-`;
    }
  }
  const response = await send(url, { headers });
  if (response.status !== 200 && response.status !== 206) throw await errorOf(response, url);
  if (have > 0 && response.status !== 206) {
    throw new RoamError(
      "unavailable",
      `${url} did not send the rest of the blob (no range support)`,
      {},
    );
  }
  const total = response.status === 206
    ? Number(response.headers.get("content-range")?.split("/")[1])
    : Number(response.headers.get("content-length") ?? NaN);
  let done = have;
  target.onProgress?.(done, Number.isFinite(total) ? total : undefined);
  const body = response.body!;
  if ("path" in out) {
    const file = await Deno.open(out.path, { write: true, create: true, append: true });
    // Hashed per MiB batch: one call per MiB is much cheaper than one per socket chunk.
    const writer = new BatchedWriter(file, undefined, (data) => {
      hash.update(data);
    });
    try {
      for await (const chunk of body) {
        await writer.write(chunk);
        done += chunk.byteLength;
        target.onProgress?.(done, Number.isFinite(total) ? total : undefined);
      }
      await writer.finish();
      await file.syncData();
    } finally {
      await writer.settled();
      file.close();
    }
    return finish(hash, sha256, done, have, out.path);
  }
  const writer = out.stream.getWriter();
  try {
    for await (const chunk of body) {
      hash.update(chunk);
      await writer.write(chunk);
      done += chunk.byteLength;
      target.onProgress?.(done, Number.isFinite(total) ? total : undefined);
    }
  } finally {
    writer.releaseLock();
  }
  return finish(hash, sha256, done, 0, "the output");
}

function finish(hash: Hash, sha256: string, size: number, resumedAt: number, where: string) {
  const actual = hash.digest("hex");
  if (actual !== sha256) {
    throw new RoamError(
      "conflict",
      `${where} has sha256 ${actual}, not ${sha256}${
        resumedAt ? " (the part that was there before may belong to another file)" : ""
      }; remove it and download again`,
      { expected: sha256, actual },
    );
  }
  return { size, resumedAt };
}

async function send(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    throw new RoamError(
      "unavailable",
      `cannot reach ${url}: ${(error as Error).message}; is 'roam host' running there?`,
      { url },
    );
  }
}

async function errorOf(response: Response, url: string): Promise<RoamError> {
  const body = await response.json().catch(() => undefined) as
    | { error?: { code?: string; message?: string; data?: Record<string, unknown> } }
    | undefined;
  const code = body?.error?.code ?? (response.status === 404 ? "not_found" : undefined);
  return new RoamError(
    code && (ERROR_CODE_NAMES as string[]).includes(code) ? code as ErrorCode : "unavailable",
    body?.error?.message ?? `${url} answered HTTP ${response.status}`,
    { status: response.status, ...(body?.error?.data ?? {}) },
  );
}
