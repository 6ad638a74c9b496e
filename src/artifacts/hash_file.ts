import { createHash, type Hash } from "node:crypto";

/** Bytes read per call: large reads keep the per-call cost far below the hashing itself. */
const READ_BYTES = 4 * 1024 * 1024;

/**
 * Feed the file at `path` (from `start`) into `hash`, reading 4 MiB at a
 * time into one reused buffer: no chunk is allocated per read, and the file
 * is closed on every path.
 */
export async function feedFile(path: string, hash: Hash, start = 0): Promise<number> {
  using file = await Deno.open(path, { read: true });
  if (start > 0) await file.seek(start, Deno.SeekMode.Start);
  const buffer = new Uint8Array(READ_BYTES);
  let total = 0;
  while (true) {
    const n = await file.read(buffer);
    if (n === null) return total;
    hash.update(buffer.subarray(0, n));
    total += n;
  }
}

/** The sha256 (lowercase hex) of the file at `path`. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  await feedFile(path, hash);
  return hash.digest("hex");
}
