import { createHash } from "node:crypto";
import { RoamError } from "../errors/mod.ts";

/** The sha256 of a string's UTF-8 bytes, as 64 lowercase hex digits. */
export function sha256Text(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** The sha256 of bytes, as 64 lowercase hex digits. */
export function sha256Bytes(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * The sha256 and size of a file, read as a stream so that a large file never
 * sits in memory whole. Reading stops with `too_large` once more than
 * `maxBytes` have arrived.
 */
export async function sha256File(
  path: string,
  options: { maxBytes?: number } = {},
): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  using file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) {
    size += chunk.byteLength;
    if (options.maxBytes !== undefined && size > options.maxBytes) {
      throw new RoamError(
        "too_large",
        `${path} is larger than ${options.maxBytes} bytes`,
        { path, limit: options.maxBytes },
      );
    }
    hash.update(chunk);
  }
  return { sha256: hash.digest("hex"), size };
}
