/**
 * The floor for artifact transfers: a bare `Deno.serve` on 127.0.0.1 that
 * stores a PUT body in a file (in 1 MiB writes, synced to disk, as the
 * ArtifactStore does)
 * and serves a file for GET, with no hashing, metadata or auth. Prints its
 * URL on stdout, then serves until stdin closes or SIGTERM/SIGINT.
 *
 * ```sh
 * deno run --allow-net --allow-read --allow-write scripts/bench/artifact_bare_server.ts DIR
 * ```
 *
 * `PUT /upload` writes `DIR/upload.bin`; `GET /file?path=P` sends the file P.
 *
 * @module
 */
import { serveUntilStopped } from "./serve_until_stopped.ts";

const dir = Deno.args[0];
if (!dir) throw new Error("usage: artifact_bare_server.ts DIR");

const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: () => {} },
  async (request) => {
    const url = new URL(request.url);
    if (request.method === "PUT") {
      const file = await Deno.open(`${dir}/upload.bin`, {
        write: true,
        create: true,
        truncate: true,
      });
      let size = 0;
      // Gathered into 1 MiB writes: one disk operation per MiB, not per socket chunk.
      const buffer = new Uint8Array(1 << 20);
      let fill = 0;
      const flush = async () => {
        let offset = 0;
        while (offset < fill) offset += await file.write(buffer.subarray(offset, fill));
        fill = 0;
      };
      try {
        for await (const chunk of request.body!) {
          size += chunk.byteLength;
          let offset = 0;
          while (offset < chunk.byteLength) {
            const n = Math.min(buffer.byteLength - fill, chunk.byteLength - offset);
            buffer.set(chunk.subarray(offset, offset + n), fill);
            fill += n;
            offset += n;
            if (fill === buffer.byteLength) await flush();
          }
        }
        await flush();
        await file.syncData();
      } finally {
        file.close();
      }
      return Response.json({ size });
    }
    const path = url.searchParams.get("path")!;
    const file = await Deno.open(path, { read: true });
    const { size } = await file.stat();
    return new Response(file.readable, { headers: { "content-length": String(size) } });
  },
);

await serveUntilStopped(`http://127.0.0.1:${server.addr.port}`, () => server.shutdown());
