import { RoamError } from "../errors/mod.ts";

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
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new RoamError(
            "timeout",
            `the request body did not arrive within ${limits.timeoutMs} ms`,
            {
              timeoutMs: limits.timeoutMs,
            },
          ),
        ),
      limits.timeoutMs,
    );
  });
  try {
    while (true) {
      const { done, value } = await Promise.race([reader.read(), deadline]);
      if (done) break;
      size += value.byteLength;
      if (size > limits.maxBytes) throw tooLarge(size, limits.maxBytes);
      chunks.push(value);
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

function tooLarge(size: number, limit: number): RoamError {
  return new RoamError(
    "too_large",
    `request body too large: ${size} bytes, the limit is ${limit}; send less per call or raise --max-request-bytes`,
    { size, limit },
  );
}
