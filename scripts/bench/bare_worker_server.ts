/**
 * A second floor for the RPC -> agent round trip: a bare `Deno.serve` on
 * 127.0.0.1 whose handler reads a POSTed JSON body, makes one postMessage
 * round trip to a bare worker (every permission denied) and answers with a
 * small JSON reply shaped like a JSON-RPC result. It is what the sum of the
 * HTTP and worker floors leaves out: the cost of an HTTP handler that waits
 * for another thread. Prints its URL on stdout, then serves until stdin
 * closes or SIGTERM/SIGINT.
 *
 * ```sh
 * deno run --allow-read --allow-net --unstable-worker-options scripts/bench/bare_worker_server.ts
 * ```
 *
 * @module
 */
import { serveUntilStopped } from "./serve_until_stopped.ts";
import { BareWorker } from "./workers.ts";

const worker = new BareWorker();
await worker.request({ op: "echo", v: 0 });
// One request at a time reaches the worker: the bench's calls are sequential.
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: () => {} },
  async (request) => {
    const body = await request.json();
    const reply = await worker.request({ op: "echo", v: body?.id ?? null });
    return Response.json({ jsonrpc: "2.0", id: reply.v ?? null, result: { ok: true } });
  },
);

await serveUntilStopped(`http://127.0.0.1:${server.addr.port}`, async () => {
  await server.shutdown();
  worker.terminate();
});
