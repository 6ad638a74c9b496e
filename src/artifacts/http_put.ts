import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";

/**
 * PUT a stream with node:http and return the status and body text. Deno's
 * `fetch` sends a streamed request body many times slower than the network
 * allows (measured: about 20 MB/s over loopback against 250 MB/s for curl
 * and for node:http), so uploads go through node:http. Give a
 * `content-length` header whenever the size is known: a chunked body pays
 * about 20 ms per chunk (measured over loopback: 1 GiB in 1 MiB chunks took
 * 23 s, with a Content-Length 2.8 s, curl 2.0 s), so one of unknown size is
 * sent in 16 MiB chunks.
 */
export function putStream(
  url: string,
  headers: Record<string, string>,
  body: ReadableStream<Uint8Array>,
): Promise<{ status: number; text: string }> {
  const target = new URL(url);
  const client = target.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(target, { method: "PUT", headers }, (response) => {
      const parts: Uint8Array[] = [];
      response.on("data", (part: Uint8Array) => parts.push(part));
      response.on("error", reject);
      response.on("end", () =>
        resolve({
          status: response.statusCode ?? 0,
          text: new TextDecoder().decode(concat(parts)),
        }));
    });
    request.on("error", reject);
    // A chunked body (no Content-Length) pays per chunk: gather it into 16 MiB chunks.
    const sized = Object.keys(headers).some((name) => name.toLowerCase() === "content-length");
    const stream = sized ? body : body.pipeThrough(gather(16 << 20));
    const source = Readable.fromWeb(stream as import("node:stream/web").ReadableStream<Uint8Array>);
    source.on("error", (error) => request.destroy(error));
    source.pipe(request);
  });
}

/** Chunks gathered into chunks of at least `size` bytes (the last may be smaller). */
function gather(size: number): TransformStream<Uint8Array, Uint8Array> {
  let parts: Uint8Array[] = [];
  let held = 0;
  return new TransformStream({
    transform(chunk, controller) {
      parts.push(chunk);
      held += chunk.byteLength;
      if (held < size) return;
      controller.enqueue(parts.length === 1 ? parts[0] : concat(parts));
      parts = [];
      held = 0;
    },
    flush(controller) {
      if (held) controller.enqueue(concat(parts));
    },
  });
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
