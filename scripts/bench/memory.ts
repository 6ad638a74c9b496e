/**
 * Memory benches (issue 5): entries read and written over JSON-RPC on a real
 * host, held to a bare `Deno.serve` round trip. Run only these with
 * `deno task bench --filter "memory entries"`.
 *
 * @module
 */
import { join } from "node:path";
import { readSecret, TokenSigner } from "../../src/security/mod.ts";
import type { BenchContext, BenchDefinition, Call, Measurement } from "./definitions.ts";

/** A host started for the memory benches, with a token for it. */
async function memoryHost(context: BenchContext): Promise<{ rpc: string; token: string }> {
  const dataDir = await context.makeTempDir("roam-bench-memory-");
  const { url } = await context.startServer("host_server.ts", ["--data-dir", dataDir]);
  const secret = await readSecret(join(dataDir, "secret"));
  const token = new TokenSigner(secret.bytes).mint({ subject: "bench", ttlMs: 3_600_000 });
  return { rpc: `${url}/rpc`, token };
}

/** One JSON-RPC call with a keep-alive client; throws on an error reply. */
function caller(context: BenchContext, rpc: string, token: string) {
  const client = Deno.createHttpClient({});
  context.defer(() => client.close());
  const headers = { "content-type": "application/json", authorization: `Bearer ${token}` };
  return async (method: string, params: unknown): Promise<unknown> => {
    const response = await fetch(rpc, {
      method: "POST",
      headers,
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
      client,
    });
    const reply = await response.json();
    if (reply.error) throw new Error(`${method}: ${JSON.stringify(reply.error).slice(0, 300)}`);
    return reply.result;
  };
}

const KIB = "x".repeat(1000);

/** The memory measurements. */
export const MEMORY_MEASUREMENTS: readonly Measurement[] = [
  {
    name: "memory.remember/http",
    summary: "roam host: memory.remember of one 1 KiB JSON entry (in-process cache hit)",
    async setup(context): Promise<Call> {
      const { rpc, token } = await memoryHost(context);
      const call = caller(context, rpc, token);
      const id = `${crypto.randomUUID()}:0`;
      await call("memory.memorize", {
        entries: [{ id, kind: "constant", value: { json: { text: KIB } } }],
      });
      return async () => {
        const result = await call("memory.remember", { refs: [id] }) as { entries: unknown[] };
        if (result.entries.length !== 1) throw new Error("memory.remember lost the entry");
      };
    },
  },
  {
    name: "memory.memorize/http",
    summary: "roam host: memory.memorize of one new 1 KiB JSON entry into the local pool",
    async setup(context): Promise<Call> {
      const { rpc, token } = await memoryHost(context);
      const call = caller(context, rpc, token);
      return async () => {
        const id = `${crypto.randomUUID()}:0`;
        const result = await call("memory.memorize", {
          entries: [{ id, kind: "constant", value: { json: { text: KIB } } }],
        }) as { ids: string[] };
        if (result.ids[0] !== id) throw new Error("memory.memorize answered another id");
      };
    },
  },
];

/** The memory benches. */
export const MEMORY_BENCHES: readonly BenchDefinition[] = [
  {
    name: "memory entries: remember (cached) over HTTP",
    subject: "memory.remember/http",
    floor: "deno.serve/http",
    goal: 3,
  },
  {
    name: "memory entries: memorize over HTTP",
    subject: "memory.memorize/http",
    floor: "deno.serve/http",
  },
];
