import { join } from "node:path";
import { RoamError } from "../../errors/mod.ts";
import { sha256Hex } from "../record.ts";

/**
 * Content-addressed bytes: what the local pool stores its records in. The
 * host's ArtifactStore has exactly these methods.
 */
export interface BlobStore {
  /** Store bytes; returns their sha256 (hex) and size. Storing the same bytes twice keeps one copy. */
  putBytes(
    bytes: Uint8Array,
    meta?: { name?: string; mediaType?: string; owner?: string },
  ): Promise<{ sha256: string; size: number }>;
  /** The bytes of a blob, or null when absent. */
  getBytes(sha256: string): Promise<Uint8Array | null>;
  /** Whether a blob is there. */
  has(sha256: string): Promise<boolean>;
  /** Keep a blob from garbage collection on behalf of `holder`. */
  pin(sha256: string, holder: string): Promise<void>;
  /** Release `holder`'s pin. */
  unpin(sha256: string, holder: string): Promise<void>;
}

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * A file-backed {@linkcode BlobStore} under one directory: `blobs/AB/SHA256`
 * written through a temporary file and an atomic rename, pins as files
 * under `pins/SHA256/`.
 * A running host uses its ArtifactStore instead; the memory layer only uses
 * the {@linkcode BlobStore} interface.
 */
export class FileBlobStore implements BlobStore {
  readonly #dir: string;

  /** A store rooted at `dir` (created on first write). */
  constructor(dir: string) {
    this.#dir = dir;
  }

  async putBytes(bytes: Uint8Array): Promise<{ sha256: string; size: number }> {
    const sha256 = sha256Hex(bytes);
    const path = this.#path(sha256);
    if (await exists(path)) return { sha256, size: bytes.length };
    await Deno.mkdir(join(this.#dir, "blobs", sha256.slice(0, 2)), { recursive: true });
    const tmp = `${path}.${crypto.randomUUID()}.tmp`;
    try {
      await Deno.writeFile(tmp, bytes, { mode: 0o600 });
      await Deno.rename(tmp, path);
    } catch (error) {
      await Deno.remove(tmp).catch(() => {});
      throw new RoamError(
        "unavailable",
        `cannot store a blob under ${this.#dir}: ${(error as Error).message}`,
      );
    }
    return { sha256, size: bytes.length };
  }

  async getBytes(sha256: string): Promise<Uint8Array | null> {
    check(sha256);
    try {
      return await Deno.readFile(this.#path(sha256));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
  }

  async has(sha256: string): Promise<boolean> {
    check(sha256);
    return await exists(this.#path(sha256));
  }

  async pin(sha256: string, holder: string): Promise<void> {
    check(sha256);
    const dir = join(this.#dir, "pins", sha256);
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(join(dir, sha256Hex(new TextEncoder().encode(holder))), holder);
  }

  async unpin(sha256: string, holder: string): Promise<void> {
    check(sha256);
    await Deno.remove(join(this.#dir, "pins", sha256, sha256Hex(new TextEncoder().encode(holder))))
      .catch(() => {});
  }

  /** The holders pinning a blob (tests). */
  async pins(sha256: string): Promise<string[]> {
    check(sha256);
    const out: string[] = [];
    try {
      for await (const e of Deno.readDir(join(this.#dir, "pins", sha256))) {
        out.push(await Deno.readTextFile(join(this.#dir, "pins", sha256, e.name)));
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return out.sort();
  }

  #path(sha256: string): string {
    return join(this.#dir, "blobs", sha256.slice(0, 2), sha256);
  }
}

function check(sha256: string): void {
  if (!SHA256.test(sha256)) {
    throw new RoamError("invalid_input", `"${sha256}" is not a sha256 (64 lowercase hex digits)`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
