import { CHUNK_BYTES } from "./stream.ts";

/**
 * A blob on its way into the store under a known sha256: where its
 * temporary file is, how much is written, and how it ended. Readers follow
 * it while it grows, so that a host still receiving a blob already serves it
 * to others (replication in a pipeline).
 */
export class Incoming {
  /** The temporary file being written. */
  readonly path: string;
  /** Where the file will be once verified. */
  readonly finalPath: string;
  /** The size announced by the sender, when known. */
  readonly size: number | undefined;
  /** Bytes written so far. */
  written = 0;
  /** Whether the upload ended (well, or with `error`). */
  settled = false;
  /** Why it failed, once settled. */
  error: Error | undefined;
  #waiters: (() => void)[] = [];

  /** Track a blob written to `path`, to be renamed to `finalPath`. */
  constructor(path: string, finalPath: string, size: number | undefined) {
    this.path = path;
    this.finalPath = finalPath;
    this.size = size;
  }

  /** `n` more bytes are on disk. */
  progress(n: number): void {
    this.written += n;
    this.#wake();
  }

  /** The upload ended; with an error, readers fail too. */
  settle(error?: Error): void {
    this.settled = true;
    this.error = error;
    this.#wake();
  }

  /** The bytes from `start` as they arrive; errors when the upload fails. */
  follow(start: number): ReadableStream<Uint8Array> {
    let file: Deno.FsFile | undefined;
    let position = start;
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      file?.close();
    };
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          if (!file) {
            file = await openEither(this.path, this.finalPath);
            if (start) await file.seek(start, Deno.SeekMode.Start);
          }
          while (position >= this.written) {
            if (this.settled) {
              close();
              if (this.error) controller.error(this.error);
              else controller.close();
              return;
            }
            await new Promise<void>((resolve) => this.#waiters.push(resolve));
          }
          const buffer = new Uint8Array(Math.min(CHUNK_BYTES, this.written - position));
          const n = await file.read(buffer);
          if (n === null) throw new Error("the blob being received ended early");
          position += n;
          controller.enqueue(n === buffer.byteLength ? buffer : buffer.subarray(0, n));
        } catch (error) {
          close();
          controller.error(error);
        }
      },
      cancel: close,
    });
  }

  #wake() {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

async function openEither(first: string, second: string): Promise<Deno.FsFile> {
  try {
    return await Deno.open(first, { read: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    return await Deno.open(second, { read: true });
  }
}
