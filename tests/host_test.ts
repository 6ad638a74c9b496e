import assert from "node:assert/strict";
import { join } from "node:path";
import { connect } from "../mod.ts";
import { readRuntimeInfo } from "../src/client/mod.ts";
import { isRoamError } from "../src/errors/mod.ts";
import { startHost } from "../src/host/mod.ts";
import { startTestHost } from "./support/host.ts";

const silent = { log: () => {} };

Deno.test("a restarted host keeps its id, its event log and its secret", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-restart-" });
  try {
    const first = await startHost({ port: 0, dataDir }, silent);
    const id = first.id;
    first.events.append("test.marker", { n: 1 });
    const secret = await Deno.readTextFile(join(dataDir, "secret"));
    const token = first.tokens.mint({ ttlMs: 60_000 });
    await first.stop();

    const second = await startHost({ port: 0, dataDir }, silent);
    try {
      assert.deepEqual(second.id, id);
      assert.deepEqual(await Deno.readTextFile(join(dataDir, "secret")), secret);
      const mesh = await connect({ url: second.url, token }); // a token from before still works
      const info = await mesh.host.info();
      assert.deepEqual(info.starts, 2);
      const { events } = await mesh.events.since({ since: 0 });
      assert.deepEqual(events.map((e) => e.type), [
        "host.started",
        "test.marker",
        "host.stopped",
        "host.started",
      ]);
      assert.deepEqual(events.map((e) => e.seq), [1, 2, 3, 4]);
    } finally {
      await second.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a host that was killed without stopping restarts on the same data dir", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-kill-" });
  try {
    // A runtime file left by a dead process must not hold the data dir.
    await Deno.writeTextFile(
      join(dataDir, "host.json"),
      JSON.stringify({
        pid: 2 ** 22 + 7,
        name: "ghost",
        url: "http://127.0.0.1:1",
        urls: [],
        version: "0",
        startedAt: new Date().toISOString(),
        secretFile: join(dataDir, "secret"),
      }),
    );
    const host = await startHost({ port: 0, dataDir }, silent);
    await host.stop();
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a second host on a data dir in use is refused with a clear error", async () => {
  await using t = await startTestHost();
  await assert.rejects(() => startHost({ port: 0, dataDir: t.dataDir }, silent), (error) => {
    assert.ok(isRoamError(error, "conflict"));
    assert.match(error.message, /in use by host "test"/);
    return true;
  });
});

Deno.test("a port in use is a clear conflict error", async () => {
  await using t = await startTestHost();
  const dataDir = await Deno.makeTempDir();
  try {
    await assert.rejects(() => startHost({ port: t.host.port, dataDir }, silent), (error) => {
      assert.ok(isRoamError(error, "conflict"));
      assert.match(error.message, /port \d+ on 127\.0\.0\.1 is in use/);
      return true;
    });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("the runtime file names the running host and goes away when it stops", async () => {
  const t = await startTestHost();
  try {
    const info = await readRuntimeInfo(t.dataDir);
    assert.deepEqual(info?.url, t.host.url);
    assert.deepEqual(info?.pid, Deno.pid);
    const mode = (await Deno.stat(join(t.dataDir, "secret"))).mode! & 0o777;
    assert.deepEqual(mode, 0o600);
  } finally {
    await t.dispose();
  }
  await assert.rejects(() => Deno.stat(join(t.dataDir, "host.json")), Deno.errors.NotFound);
});

Deno.test("connect() with no options finds the local host and mints a token from its secret", async () => {
  await using t = await startTestHost({ tags: ["gpu"], properties: { rack: "2" } });
  const mesh = await connect({ dataDir: t.dataDir });
  assert.deepEqual(mesh.url, t.host.url);
  const info = await mesh.host.info();
  assert.deepEqual(info.tags, ["gpu"]);
  assert.deepEqual(info.properties, { rack: "2" });
  assert.deepEqual(info.bind, { mode: "loopback", addresses: ["127.0.0.1"], port: t.host.port });
});

Deno.test("invalid configuration is refused before anything starts", async () => {
  for (
    const bad of [
      { bind: ["not-an-address"] },
      { port: 70000 },
      { name: "has space" },
      { tags: ["bad tag"] },
    ]
  ) {
    await assert.rejects(
      () => startHost({ dataDir: "/nonexistent/never", ...bad }, silent),
      (error) => isRoamError(error, "invalid_input"),
    );
  }
});

Deno.test({
  name: "a client that never finishes its body cannot hold up a stop past the grace period",
  // The connection the client holds open is closed by the test after the stop;
  // Deno's server finishes that connection's op a moment later, outside the test.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const t = await startTestHost({ limits: { bodyTimeoutMs: 50 }, shutdownGraceMs: 200 });
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: t.host.port });
    try {
      await conn.write(new TextEncoder().encode(
        "POST /rpc HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n" +
          "transfer-encoding: chunked\r\n\r\n1\r\n{\r\n",
      ));
      const reply = new Uint8Array(4096);
      const n = await conn.read(reply);
      assert.match(new TextDecoder().decode(reply.subarray(0, n ?? 0)), /^HTTP\/1\.1 408/);
      const started = performance.now();
      await t.dispose();
      assert.ok(performance.now() - started < 2_000, "stop waited past its grace period");
    } finally {
      conn.close();
    }
  },
});

Deno.test("without a token only small bodies are read: 413 past 64 KiB, while a token allows more", async () => {
  await using t = await startTestHost();
  const big = JSON.stringify({
    jsonrpc: "2.0",
    method: "host.health",
    id: 1,
    pad: "x".repeat(70 * 1024),
  });
  const anonymous = await fetch(`${t.host.url}/rpc`, { method: "POST", body: big });
  assert.equal(anonymous.status, 413);
  assert.equal((await anonymous.json()).error.data.code, "too_large");
  const withToken = await fetch(`${t.host.url}/rpc`, {
    method: "POST",
    body: big,
    headers: { authorization: `Bearer ${t.token}` },
  });
  assert.equal(withToken.status, 200);
  assert.deepEqual((await withToken.json()).result.ok, true);
});
