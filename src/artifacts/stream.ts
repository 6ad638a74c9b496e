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
