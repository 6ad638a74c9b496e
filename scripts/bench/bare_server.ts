/**
 * The floor for HTTP round trips: a bare `Deno.serve` on 127.0.0.1 that
 * reads a POSTed JSON body and answers with a small JSON reply shaped like a
 * JSON-RPC result. Prints its URL on stdout, then serves until stdin closes
 * (the bench exiting, however it exits) or SIGTERM/SIGINT.
 *
 * ```sh
 * deno run --allow-net scripts/bench/bare_server.ts
 * ```
 *
 * @module
 */
import { serveUntilStopped } from "./serve_until_stopped.ts";

const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: () => {} },
  async (request) => {
    const body = await request.json();
    return Response.json({ jsonrpc: "2.0", id: body?.id ?? null, result: { ok: true } });
  },
);

await serveUntilStopped(`http://127.0.0.1:${server.addr.port}`, () => server.shutdown());
