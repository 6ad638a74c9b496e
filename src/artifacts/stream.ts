/** Bytes read from disk per chunk of a blob stream. */
export const CHUNK_BYTES = 1 << 20;

/** Write all of `bytes` (a file write may take fewer at once). */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) offset += await file.write(bytes.subarray(offset));
}

/**
 * `length` bytes of an open file from `start`: the file's own stream when
 * that runs to its end, else a stream of 1 MiB chunks (one fresh buffer
 * each, handed on without a copy). The file is closed at the end, on error
 * and when the reader cancels.
 */
export async function fileStream(
  file: Deno.FsFile,
  start: number,
  length: number,
): Promise<ReadableStream<Uint8Array>> {
  const size = (await file.stat()).size;
  if (start + length === size) {
    // To the end of the file: Deno's own file stream, which Deno.serve sends without JS in between.
    if (start) await file.seek(start, Deno.SeekMode.Start);
    return file.readable;
  }
  let left = length;
  let positioned = start === 0;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    file.close();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (!positioned) {
          await file.seek(start, Deno.SeekMode.Start);
          positioned = true;
        }
        if (left <= 0) {
          close();
          controller.close();
          return;
        }
        const buffer = new Uint8Array(Math.min(CHUNK_BYTES, left));
        const n = await file.read(buffer);
        if (n === null) throw new Error(`the blob ended ${left} bytes early`);
        left -= n;
        controller.enqueue(n === buffer.byteLength ? buffer : buffer.subarray(0, n));
      } catch (error) {
        close();
        controller.error(error);
      }
    },
    cancel: close,
  }, { highWaterMark: 2 });
}

/** Bytes gathered before one write to disk. */
export const WRITE_BYTES = 1 << 20;

/**
 * Writes a stream of small chunks (what a socket delivers, often 32 KiB) to
 * a file in 1 MiB writes: one disk operation per MiB instead of one per
 * chunk, which is many times faster. Two buffers take turns, so the next
 * MiB is gathered while the last one is written.
 */
export class BatchedWriter {
  readonly #file: Deno.FsFile;
  readonly #onWritten: (n: number) => void;
  readonly #buffers = [new Uint8Array(WRITE_BYTES), new Uint8Array(WRITE_BYTES)];
  #current = 0;
  #fill = 0;
  #writing: Promise<void> = Promise.resolve();
  #error: unknown;

  readonly #onBatch: (data: Uint8Array) => void | Promise<void>;

  /**
   * Write to `file`. `onBatch` sees each batch (up to 1 MiB, in order) just
   * before it is written, which makes it the cheap place to hash the bytes
   * (one call per MiB, not per socket chunk); `onWritten` hears of each
   * write once it is on disk (in the page cache).
   */
  constructor(
    file: Deno.FsFile,
    onWritten: (n: number) => void = () => {},
    onBatch: (data: Uint8Array) => void | Promise<void> = () => {},
  ) {
    this.#file = file;
    this.#onWritten = onWritten;
    this.#onBatch = onBatch;
  }

  /** Add a chunk; resolves when it is buffered (waits only when both buffers are full). */
  async write(chunk: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < chunk.byteLength) {
      const n = Math.min(WRITE_BYTES - this.#fill, chunk.byteLength - offset);
      this.#buffers[this.#current].set(chunk.subarray(offset, offset + n), this.#fill);
      this.#fill += n;
      offset += n;
      if (this.#fill === WRITE_BYTES) await this.#flush();
    }
  }

  /** Write what is buffered and wait for every write; throws the first write error. */
  async finish(): Promise<void> {
    await this.#flush();
    await this.settled();
  }

  /** Wait for the write in flight (never throws; call before closing the file). */
  async settled(): Promise<void> {
    await this.#writing;
  }

  async #flush() {
    if (this.#fill === 0) return;
    const data = this.#buffers[this.#current].subarray(0, this.#fill);
    // Hashed (or handed to the hashing worker) while the other buffer's write is still running.
    await this.#onBatch(data);
    await this.#writing;
    if (this.#error) throw this.#error;
    this.#writing = writeAll(this.#file, data).then(
      () => this.#onWritten(data.byteLength),
      (error) => {
        this.#error = error;
      },
    );
    this.#current ^= 1;
    this.#fill = 0;
  }
}
