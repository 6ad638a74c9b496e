import { RoamError } from "../errors/mod.ts";
import { deadlines } from "./deadline.ts";

/** Limits on reading one request body. */
export interface BodyLimits {
  /** Most bytes accepted; more is a `too_large` error. */
  maxBytes: number;
  /** Longest time the whole body may take to arrive; slower is a `timeout` error. */
  timeoutMs: number;
}

/**
 * Read a request body as UTF-8 text without ever holding more than
 * `limits.maxBytes`, and give up on a body that arrives too slowly.
 */
export async function readBodyText(request: Request, limits: BodyLimits): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > limits.maxBytes) throw tooLarge(declared, limits.maxBytes);
  // A declared length within the limit is read in one step without touching
  // `request.body` (which would build a stream: the common case, and much
  // cheaper); bodies of unknown length are read chunk by chunk and counted.
  if (Number.isFinite(declared)) {
    return await deadlines.race(request.text(), limits.timeoutMs, () => slow(limits.timeoutMs));
  }
  if (!request.body) return "";
  const reader = request.body.getReader();
  const read = async () => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    while (true) {
      const { done, value } = await reader.read();
      if (done) return concat(chunks, size);
      size += value.byteLength;
      if (size > limits.maxBytes) throw tooLarge(size, limits.maxBytes);
      chunks.push(value);
    }
  };
  try {
    return new TextDecoder().decode(
      await deadlines.race(read(), limits.timeoutMs, () => slow(limits.timeoutMs)),
    );
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  }
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

function tooLarge(size: number, limit: number): RoamError {
  return new RoamError(
    "too_large",
    `request body too large: ${size} bytes, the limit is ${limit}; send less per call or raise --max-request-bytes`,
    { size, limit },
  );
}

function slow(timeoutMs: number): RoamError {
  return new RoamError("timeout", `the request body did not arrive within ${timeoutMs} ms`, {
    timeoutMs,
  });
}
