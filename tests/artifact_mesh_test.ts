/**
 * Blobs between hosts of one mesh, all in this process on loopback: a
 * fetch by hash that passes over a holder sending damaged bytes, a blob
 * replicated to three hosts through a pipeline, and an agent whose files
 * (pinned for it, or kept with ctx.files) travel with it as artifacts.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { connect, type Roam } from "../mod.ts";
import { installPluginDir } from "./support/agents.ts";
import { startTestHost, type TestHost } from "./support/host.ts";

const ECHO = new URL("./fixtures/plugins/echo", import.meta.url).pathname;
const FILER = new URL("./fixtures/plugins/filer", import.meta.url).pathname;
const sha = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

type Node = { t: TestHost; mesh: Roam; url: string };

/** Hosts sharing one mesh secret; stopped and removed together. */
async function hosts(names: string[]): Promise<Node[] & AsyncDisposable> {
  const root = await Deno.makeTempDir({ prefix: "roam-artifact-mesh-" });
  const nodes = [] as unknown as Node[] & AsyncDisposable;
  for (const name of names) {
    const t = await startTestHost({
      name,
      dataDir: join(root, name),
      secretFile: join(root, "secret"),
      shutdownGraceMs: 200,
    }, { mobility: { commitGraceMs: 300, settleRetryMs: 100 } });
    nodes.push({ t, mesh: await connect({ url: t.host.url, token: t.token }), url: t.host.url });
  }
  nodes[Symbol.asyncDispose] = async () => {
    for (const node of nodes) {
      await node.mesh.close();
      await node.t.dispose();
    }
    await Deno.remove(root, { recursive: true }).catch(() => {});
  };
  return nodes;
}

function random(size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

async function put(node: Node, data: Uint8Array<ArrayBuffer>): Promise<string> {
  const response = await fetch(`${node.url}/artifacts`, {
    method: "PUT",
    headers: { authorization: `Bearer ${node.t.token}` },
    body: data,
  });
  assert.equal(response.status, 201);
  return (await response.json()).sha256;
}

async function download(node: Node, hash: string): Promise<string> {
  const response = await fetch(`${node.url}/artifacts/${hash}`, {
    headers: { authorization: `Bearer ${node.t.token}` },
  });
  assert.equal(response.status, 200);
  return sha(await response.bytes());
}

Deno.test("a fetch by hash passes over a holder that sends damaged bytes and takes the blob from the next", async () => {
  await using nodes = await hosts(["a", "b"]);
  const [a, b] = nodes;
  const data = random(2 * 1024 * 1024);
  const hash = await put(a, data);
  // A holder that answers every download with other bytes of the same length.
  const liar = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, () => {
    const bad = data.slice();
    bad[12345] ^= 0xff;
    return new Response(bad, { headers: { "x-roam-sha256": hash } });
  });
  try {
    const result = await b.mesh.artifact.fetch({
      sha256: hash,
      from: [`http://127.0.0.1:${liar.addr.port}`, a.url],
    });
    assert.equal(result.from, a.url);
    assert.equal(result.attempts.length, 2);
    assert.equal(result.attempts[0].ok, false);
    assert.equal(result.attempts[0].code, "invalid_input");
    assert.match(result.attempts[0].message!, /damaged/);
    assert.equal(await download(b, hash), hash);
    const { events } = await b.mesh.events.since({ types: ["artifact.fetch_failed"] });
    assert.equal(events.length, 1);
    assert.equal((events[0].data as { corrupted: boolean }).corrupted, true);
    // Fetching again is a no-op; a blob no one has is not_found.
    assert.equal((await b.mesh.artifact.fetch({ sha256: hash })).already, true);
  } finally {
    await liar.shutdown();
  }
  const nobody = await b.mesh.artifact.fetch({ sha256: sha(new Uint8Array(3)), from: a.url })
    .catch((e) => e);
  assert.equal(nobody.code, "unavailable");
  assert.match(nobody.message, /404/);
});

Deno.test("a download that breaks off part way goes on from the next holder where it stopped", async () => {
  await using nodes = await hosts(["a"]);
  const [a] = nodes;
  const data = random(3 * 1024 * 1024);
  const hash = sha(data);
  // Sends the first MiB of the blob, then drops the connection.
  const breaker = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, () => {
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) return controller.error(new Error("cable pulled"));
        controller.enqueue(data.slice(0, 1024 * 1024));
        sent = true;
      },
    });
    return new Response(body, {
      headers: { "content-length": String(data.byteLength), "x-roam-sha256": hash },
    });
  });
  // Serves the blob honouring Range, and notes the ranges asked for.
  const ranges: (string | null)[] = [];
  const ranger = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (request) => {
    const range = request.headers.get("range");
    ranges.push(range);
    const start = Number(range?.match(/^bytes=(\d+)-$/)?.[1] ?? 0);
    return new Response(data.slice(start), {
      status: start ? 206 : 200,
      headers: {
        "content-range": `bytes ${start}-${data.byteLength - 1}/${data.byteLength}`,
        "x-roam-sha256": hash,
      },
    });
  });
  try {
    const breakerUrl = `http://127.0.0.1:${breaker.addr.port}`;
    const rangerUrl = `http://127.0.0.1:${ranger.addr.port}`;
    const result = await a.mesh.artifact.fetch({ sha256: hash, from: [breakerUrl, rangerUrl] });
    assert.equal(result.from, rangerUrl);
    assert.equal(result.attempts[0].url, breakerUrl);
    assert.match(result.attempts[0].message!, /broke off after \d+ bytes/);
    assert.equal(ranges.length, 1);
    assert.match(ranges[0]!, /^bytes=[1-9]\d*-$/, "the rest was asked for, not the whole");
    assert.equal(await download(a, hash), hash);
  } finally {
    await breaker.shutdown();
    await ranger.shutdown();
  }
});

Deno.test("replicate spreads a blob to three hosts as a pipeline: each downloads from the one before; past a dead one, from the source", async () => {
  await using nodes = await hosts(["a", "b", "c", "d", "e"]);
  const [a, b, c, d, e] = nodes;
  const data = random(6 * 1024 * 1024 + 3);
  const hash = await put(a, data);
  const result = await a.mesh.artifact.replicate({ sha256: hash, to: [b.url, c.url, d.url] });
  assert.equal(result.size, data.byteLength);
  assert.deepEqual(result.hosts.map((h) => h.ok), [true, true, true]);
  assert.deepEqual(result.hosts.map((h) => h.from), [a.url, b.url, c.url]);
  for (const node of [b, c, d]) assert.equal(await download(node, hash), hash);
  // A target that cannot be reached fails alone: the one after it falls back to the source.
  const dead = "http://127.0.0.1:9";
  const around = await a.mesh.artifact.replicate({ sha256: hash, to: [dead, e.url] });
  assert.deepEqual(around.hosts.map((h) => h.ok), [false, true]);
  assert.equal(around.hosts[1].from, a.url);
  assert.equal(await download(e, hash), hash);
  // Hosts holding it already answer at once.
  const again = await a.mesh.artifact.replicate({ sha256: hash, to: [b.url, c.url] });
  assert.deepEqual(again.hosts.map((h) => h.already), [true, true]);
});

Deno.test("an agent's file travels with it as an artifact on dispatch and on clone", async () => {
  await using nodes = await hosts(["a", "b"]);
  const [a, b] = nodes;
  await installPluginDir(a.mesh, ECHO);
  const { id } = await a.mesh.agent.create({ plugin: "echo" });
  const data = random(300 * 1024);
  const hash = await put(a, data);
  await a.mesh.artifact.pin({ sha256: hash, holder: `agent:${id}`, name: "notes.bin" });

  const moved = await a.mesh.agent.dispatch({ id, to: b.url });
  assert.equal(moved.location, b.url);
  const there = await b.mesh.artifact.list({ holder: `agent:${id}` });
  assert.equal(there.artifacts.length, 1);
  assert.equal(there.artifacts[0].sha256, hash);
  assert.deepEqual(there.artifacts[0].pins.map((p) => [p.holder, p.name]), [[
    `agent:${id}`,
    "notes.bin",
  ]]);
  assert.equal(await download(b, hash), hash);
  // The source let its copy go: unpinned, released, collected after the grace period.
  const left = await a.mesh.artifact.stat({ sha256: hash });
  assert.deepEqual(left.pins, []);
  assert.notEqual(left.released, null);

  const clone = await b.mesh.agent.clone({ id, to: a.url });
  const cloned = await a.mesh.artifact.list({ holder: `agent:${clone.id}` });
  assert.deepEqual(cloned.artifacts.map((x) => x.sha256), [hash]);
  assert.equal((await b.mesh.artifact.list({ holder: `agent:${id}` })).artifacts.length, 1);

  // Disposing of an agent drops its pins.
  await b.mesh.agent.dispose({ id });
  assert.deepEqual((await b.mesh.artifact.stat({ sha256: hash })).pins, []);
});

Deno.test("files an agent keeps with ctx.files travel with it: readable on the host it moved to, released where it left", async () => {
  await using nodes = await hosts(["a", "b"]);
  const [a, b] = nodes;
  await installPluginDir(a.mesh, FILER);
  const { id } = await a.mesh.agent.create({ plugin: "filer" });
  const send = (node: Node, kind: string, args?: unknown) =>
    node.mesh.agent.send({ id, kind, args }).then((r) => r.reply);
  const first = await send(a, "put", { name: "notes.txt", text: "v1" }) as { sha256: string };
  const kept = await send(a, "put", { name: "notes.txt", text: "version two" }) as {
    sha256: string;
    size: number;
  };
  assert.equal(kept.size, 11);
  // Replacing a file lets its old bytes go.
  assert.deepEqual((await a.mesh.artifact.stat({ sha256: first.sha256 })).pins, []);
  const bad = await a.mesh.agent.send({ id, kind: "put", args: { name: "/x", text: "" } })
    .then(() => null, (error) => error);
  assert.equal(bad?.code, "invalid_input", String(bad));

  await a.mesh.agent.dispatch({ id, to: b.url });
  assert.equal(await send(b, "get", { name: "notes.txt" }), "version two");
  assert.deepEqual(await send(b, "list"), [{ name: "notes.txt", sha256: kept.sha256, size: 11 }]);
  assert.deepEqual((await a.mesh.artifact.stat({ sha256: kept.sha256 })).pins, []);
  assert.equal(await send(b, "delete", { name: "notes.txt" }), true);
  assert.equal(await send(b, "get", { name: "notes.txt" }), null);
});
