/**
 * The limits that protect a host from huge, slow or too many requests: the
 * HTTP body size and arrival time, the WebSocket message size, and the number
 * of calls in flight on one socket.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { RoamError } from "../src/errors/mod.ts";
import { type Host, type HostConfigInput, startHost } from "../src/host/mod.ts";
import {
  createWsRpcHandler,
  defineMethod,
  Dispatcher,
  implement,
  RpcWsClient,
  WS_PROTOCOL,
} from "../src/rpc/mod.ts";
import { within } from "./support/wait.ts";

const MAX_REQUEST_BYTES = 1024;
const WS_MAX_MESSAGE_BYTES = 1024;

async function withHost(
  limits: HostConfigInput["limits"],
  fn: (host: Host) => Promise<void>,
): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-limits-" });
  try {
    const host = await startHost({ port: 0, dataDir, limits }, { log: () => {} });
    try {
      await fn(host);
    } finally {
      await host.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

/** A valid host.health call padded with an ignored member to exactly `bytes` bytes. */
function paddedCall(bytes: number): string {
  const bare = JSON.stringify({ jsonrpc: "2.0", method: "host.health", id: 1, pad: "" });
  const text = JSON.stringify({
    jsonrpc: "2.0",
    method: "host.health",
    id: 1,
    pad: "x".repeat(bytes - bare.length),
  });
  assert.equal(new TextEncoder().encode(text).byteLength, bytes);
  return text;
}

// deno-lint-ignore no-explicit-any
async function readJson(response: Response): Promise<any> {
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  return JSON.parse(await response.text());
}

// deno-lint-ignore no-explicit-any
function assertRpcError(body: any, code: number, name: string): void {
  assert.equal(body.jsonrpc, "2.0");
  assert.equal(body.id, null);
  assert.equal(body.error.code, code);
  assert.equal(body.error.data.code, name);
}

Deno.test("a body at maxRequestBytes is served; one byte more with Content-Length is 413", async () => {
  await withHost({ maxRequestBytes: MAX_REQUEST_BYTES }, async (host) => {
    const atLimit = await fetch(`${host.url}/rpc`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: paddedCall(MAX_REQUEST_BYTES),
    });
    assert.equal(atLimit.status, 200);
    assert.equal((await readJson(atLimit)).result.ok, true);

    const over = await fetch(`${host.url}/rpc`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: paddedCall(MAX_REQUEST_BYTES + 1),
    });
    assert.equal(over.status, 413);
    const body = await readJson(over);
    assertRpcError(body, -32011, "too_large");
    assert.equal(body.error.data.limit, MAX_REQUEST_BYTES);
    assert.equal(body.error.data.size, MAX_REQUEST_BYTES + 1);
  });
});

/** Send a request head by hand (fetch cannot declare a length it will not send) and read the reply. */
async function rawExchange(
  host: Host,
  head: string,
): Promise<{ status: number; body: unknown }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: host.port });
  try {
    await conn.write(new TextEncoder().encode(head));
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(4096);
    let text = "";
    while (true) {
      const end = text.indexOf("\r\n\r\n");
      const length = Number(text.match(/\r\ncontent-length: *(\d+)/i)?.[1] ?? NaN);
      if (end >= 0 && text.length >= end + 4 + length) {
        return {
          status: Number(text.split(" ")[1]),
          body: JSON.parse(text.slice(end + 4, end + 4 + length)),
        };
      }
      const n = await conn.read(buffer);
      if (n === null) throw new Error(`the connection closed before a whole reply: ${text}`);
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
  } finally {
    conn.close();
  }
}

Deno.test("a declared Content-Length over the limit is refused before any body arrives", async () => {
  // The body timeout is long, so a host that waited for the body would answer 408 only later.
  await withHost({ maxRequestBytes: MAX_REQUEST_BYTES, bodyTimeoutMs: 60_000 }, async (host) => {
    const reply = await within(
      5_000,
      "the 413",
      rawExchange(
        host,
        "POST /rpc HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n" +
          "content-length: 1000000\r\n\r\n",
      ),
    );
    assert.equal(reply.status, 413);
    assertRpcError(reply.body, -32011, "too_large");
    // deno-lint-ignore no-explicit-any
    assert.equal((reply.body as any).error.data.size, 1_000_000);
  });
});

Deno.test("a streamed body without Content-Length is 413 once over the limit", async () => {
  await withHost({ maxRequestBytes: MAX_REQUEST_BYTES }, async (host) => {
    const chunk = new TextEncoder().encode(" ".repeat(512));
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 3; i++) controller.enqueue(chunk);
        controller.close();
      },
    });
    const response = await fetch(`${host.url}/rpc`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit);
    assert.equal(response.status, 413);
    const reply = await readJson(response);
    assertRpcError(reply, -32011, "too_large");
    assert.equal(reply.error.data.limit, MAX_REQUEST_BYTES);
    assert.ok(reply.error.data.size > MAX_REQUEST_BYTES);
  });
});

Deno.test("a body that arrives slower than bodyTimeoutMs gets 408", async () => {
  await withHost({ bodyTimeoutMs: 100 }, async (host) => {
    let stream!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        stream = controller;
        controller.enqueue(new TextEncoder().encode(`{"jsonrpc": "2.0", `));
      },
    });
    try {
      const response = await within(
        5_000,
        "the 408",
        fetch(`${host.url}/rpc`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
          duplex: "half",
        } as RequestInit),
      );
      assert.equal(response.status, 408);
      const reply = await readJson(response);
      assertRpcError(reply, -32008, "timeout");
      assert.equal(reply.error.data.timeoutMs, 100);
    } finally {
      stream.close();
    }
  });
});

Deno.test("a WebSocket message over wsMaxMessageBytes closes the socket with 1009", async () => {
  await withHost({ wsMaxMessageBytes: WS_MAX_MESSAGE_BYTES }, async (host) => {
    const client = await RpcWsClient.connect({
      url: host.url,
      token: host.tokens.mint({ ttlMs: 60_000 }),
    });
    try {
      const closed = new Promise<RoamError>((resolve) => client.onClose(resolve));
      // A message of exactly the limit is served (its params fail the schema, but it is answered).
      // RpcWsClient numbers calls from 1, so the first message is this one with id 1.
      const bare = JSON.stringify({
        jsonrpc: "2.0",
        method: "host.health",
        params: { pad: "" },
        id: 1,
      });
      await assert.rejects(
        client.call("host.health", { pad: "x".repeat(WS_MAX_MESSAGE_BYTES - bare.length) }),
        (e: RoamError) => e.code === "invalid_params",
      );
      const big = client.call("host.health", { pad: "x".repeat(WS_MAX_MESSAGE_BYTES) });
      await assert.rejects(big, (e: RoamError) => e.code === "unavailable");
      const reason = await within(5_000, "the close", closed);
      assert.equal(reason.data.closeCode, 1009);
    } finally {
      await client.close();
    }
  });
});

// Fails on the code under test: src/rpc/ws.ts compares the UTF-16 length of
// the text with a limit in bytes, so a message of multi-byte characters up to
// three times the limit gets through.
Deno.test("the WebSocket message limit counts bytes, not characters", async () => {
  await withHost({ wsMaxMessageBytes: WS_MAX_MESSAGE_BYTES }, async (host) => {
    const client = await RpcWsClient.connect({
      url: host.url,
      token: host.tokens.mint({ ttlMs: 60_000 }),
    });
    try {
      const closed = new Promise<RoamError>((resolve) => client.onClose(resolve));
      // 500 euro signs: 500 characters, 1500 bytes in UTF-8.
      const params = { pad: "\u20ac".repeat(500) };
      const bytes = new TextEncoder().encode(JSON.stringify(params)).byteLength;
      assert.ok(JSON.stringify(params).length < WS_MAX_MESSAGE_BYTES);
      assert.ok(bytes > WS_MAX_MESSAGE_BYTES);
      await assert.rejects(
        client.call("host.health", params),
        (e: RoamError) => {
          assert.equal(e.code, "unavailable", `expected the socket to close, got ${e.code}`);
          return true;
        },
      );
      assert.equal((await within(5_000, "the close", closed)).data.closeCode, 1009);
    } finally {
      await client.close();
    }
  });
});

/** A WebSocket RPC server whose one method waits until the test opens a gate. */
async function withGatedWsServer(
  maxInFlight: number,
  fn: (url: string, open: () => void, started: () => number) => Promise<void>,
): Promise<void> {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let running = 0;
  const wait = defineMethod({
    name: "gate.wait",
    summary: "waits for the test to open the gate",
    params: z.object({ n: z.number() }),
    result: z.number(),
  });
  const dispatcher = new Dispatcher({
    methods: [
      implement(wait, async ({ n }) => {
        running++;
        await gate;
        return n;
      }),
    ],
  });
  const handler = createWsRpcHandler({
    dispatcher,
    authenticate: () => ({ ok: true, subject: "tester", expiresAt: Date.now() + 3_600_000 }),
    maxMessageBytes: 64 * 1024,
    maxInFlight,
    maxBufferedBytes: 1024 * 1024,
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, release, () => running);
  } finally {
    release();
    await server.shutdown();
  }
}

/** Messages of a raw WebSocket, in order, one at a time. */
function inbox(socket: WebSocket): () => Promise<unknown> {
  const queued: unknown[] = [];
  const waiting: ((v: unknown) => void)[] = [];
  socket.addEventListener("message", (event) => {
    const value = JSON.parse(String(event.data));
    const next = waiting.shift();
    if (next) next(value);
    else queued.push(value);
  });
  return () =>
    queued.length
      ? Promise.resolve(queued.shift())
      : new Promise((resolve) => waiting.push(resolve));
}

async function closeSocket(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return;
  const closed = new Promise((resolve) => socket.addEventListener("close", resolve));
  socket.close();
  await closed;
}

Deno.test("calls beyond wsMaxInFlight on one socket get queue_full; the others finish", async () => {
  await withGatedWsServer(2, async (url, open, started) => {
    const socket = new WebSocket(`${url.replace("http", "ws")}/rpc/ws`, [WS_PROTOCOL]);
    const next = inbox(socket);
    try {
      await new Promise((resolve, reject) => {
        socket.addEventListener("open", resolve, { once: true });
        socket.addEventListener("error", reject, { once: true });
      });
      for (const n of [1, 2, 3]) {
        socket.send(JSON.stringify({ jsonrpc: "2.0", method: "gate.wait", params: { n }, id: n }));
      }
      // deno-lint-ignore no-explicit-any
      const rejected = await within(5_000, "the queue_full reply", next()) as any;
      assert.equal(rejected.error.code, -32012);
      assert.equal(rejected.error.data.code, "queue_full");
      assert.equal(rejected.error.data.limit, 2);
      assert.equal(started(), 2);

      open();
      // deno-lint-ignore no-explicit-any
      const answers = [await next(), await next()] as any[];
      assert.deepEqual(answers.map((a) => a.result).sort(), [1, 2]);
      assert.deepEqual(answers.map((a) => a.id).sort(), [1, 2]);

      // With the slots free again, a new call is served.
      socket.send(JSON.stringify({ jsonrpc: "2.0", method: "gate.wait", params: { n: 4 }, id: 4 }));
      assert.deepEqual(await next(), { jsonrpc: "2.0", id: 4, result: 4 });
    } finally {
      await closeSocket(socket);
    }
  });
});

// Fails on the code under test: src/rpc/ws.ts answers queue_full with id null
// instead of the call's id, so no client can tell which call was refused;
// RpcWsClient drops the reply and the call hangs until its own time limit.
Deno.test("a call refused with queue_full is told so, by its id", async () => {
  await withGatedWsServer(2, async (url, open) => {
    const client = await RpcWsClient.connect({ url, timeoutMs: 1_000 });
    try {
      const first = client.call("gate.wait", { n: 1 });
      const second = client.call("gate.wait", { n: 2 });
      // Handled here too, so that a failure below does not also leave two unhandled rejections.
      Promise.allSettled([first, second]);
      await assert.rejects(client.call("gate.wait", { n: 3 }), (e: RoamError) => {
        assert.equal(e.code, "queue_full");
        return true;
      });
      open();
      assert.deepEqual(await Promise.all([first, second]), [1, 2]);
    } finally {
      open();
      await client.close();
    }
  });
});
