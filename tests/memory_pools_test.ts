/**
 * Memory pools: the bounded memory pool, cache chains (hits, misses, write
 * back), record transforms (gzip, AES-256-GCM, tampering and unknown
 * transforms refused), pool copy with progress, and the peer pool against a
 * small HTTP server that speaks the ArtifactStore's two routes.
 */
import assert from "node:assert/strict";
import { isRoamError } from "../src/errors/mod.ts";
import {
  ChainPool,
  constant,
  copyPool,
  decodeRecord,
  encodeRecord,
  LocalPool,
  Memory,
  MemoryPool,
  openMemory,
  PeerPool,
  readMemorySecrets,
  readRecordHeader,
  sha256Hex,
  variable,
} from "../src/memory/mod.ts";
import { rejection, tempLocalPool } from "./support/memory.ts";
import { startTestHost } from "./support/host.ts";
import { connect } from "../mod.ts";

const code = (c: string) => (e: unknown) => isRoamError(e) && e.code === c;
const KEY = crypto.getRandomValues(new Uint8Array(32));

Deno.test("the memory pool evicts the least recently used past its bounds and keeps copies", async () => {
  const pool = new MemoryPool("m", { maxEntries: 2 });
  const rec = new Uint8Array([1, 2, 3]);
  await pool.put("a", rec);
  rec[0] = 9;
  await pool.put("b", new Uint8Array([2]));
  assert.deepEqual([...(await pool.get("a"))!], [1, 2, 3]); // a is now the most recent
  await pool.put("c", new Uint8Array([3]));
  assert.equal(await pool.has("b"), false);
  assert.equal(pool.evictions, 1);
  const bytes = new MemoryPool("mb", { maxBytes: 10 });
  await bytes.put("x", new Uint8Array(6));
  await bytes.put("y", new Uint8Array(6));
  assert.deepEqual((await bytes.list()).keys, ["y"]);
  assert.equal(bytes.stats().bytes, 6);
});

Deno.test("a cache chain reads through, writes hits back, and counts hits and misses per tier", async () => {
  await using local = await tempLocalPool("origin");
  const cache = new MemoryPool("cache");
  const chain = new ChainPool("chain", [cache, local.pool]);
  const memory = new Memory({ pools: { chain, origin: local.pool }, defaultPool: "chain" });
  const e = constant({ hello: "world" });
  // Written straight to the origin: the cache has not seen it.
  await memory.memorize(e, { pool: "origin" });
  assert.equal(await cache.has(e.id), false);
  assert.deepEqual((await memory.remember(e.id)).value, { hello: "world" });
  let s = chain.stats();
  assert.deepEqual([s.tiers[0].stats.misses, s.tiers[1].stats.hits], [1, 1]);
  assert.equal(await cache.has(e.id), true, "a hit from the origin is written back to the cache");
  await memory.remember(e.id);
  s = chain.stats();
  assert.deepEqual([s.tiers[0].stats.hits, s.tiers[1].stats.hits, s.hits], [1, 1, 2]);
  await assert.rejects(() => memory.remember(constant("absent").id), code("not_found"));
  s = chain.stats();
  assert.deepEqual([s.misses, s.tiers[0].stats.misses, s.tiers[1].stats.misses], [1, 2, 1]);
  // Writes go through to the origin; forget leaves no stale cached copy.
  const v = variable(1);
  await memory.memorize(v);
  assert.equal(await local.pool.has(v.id), true);
  await memory.forget(v.id);
  assert.equal(await cache.has(v.id), false);
  assert.equal(await local.pool.has(v.id), false);
});

Deno.test("records: gzip shrinks, AES-256-GCM hides and authenticates, tampering and unknown transforms are refused", async () => {
  const value = { text: "roam ".repeat(2000) };
  const e = constant(value, { nickname: "secret-notes" });
  const plain = await encodeRecord(e);
  const zipped = await encodeRecord(e, { transforms: ["gzip"] });
  assert(zipped.length < plain.length / 10, `${zipped.length} vs ${plain.length}`);
  assert.deepEqual((await decodeRecord(zipped)).value, value);
  assert.deepEqual(readRecordHeader(zipped).header.transforms, ["gzip"]);

  const keys = { k1: KEY };
  const sealed = await encodeRecord(e, { transforms: ["gzip", "aes-256-gcm"], keys, keyId: "k1" });
  const { header } = readRecordHeader(sealed);
  assert.deepEqual([header.transforms, header.keyId, header.sha256], [
    ["gzip", "aes-256-gcm"],
    "k1",
    undefined,
  ]);
  assert(!new TextDecoder().decode(sealed).includes("roam roam"), "no plaintext in the record");
  assert(!new TextDecoder().decode(sealed).includes(btoaOf(KEY)), "the key is never in the record");
  assert.deepEqual((await decodeRecord(sealed, { keys })).value, value);
  await assert.rejects(() => decodeRecord(sealed), code("unavailable")); // no key
  await assert.rejects(
    () => decodeRecord(sealed, { keys: { k1: crypto.getRandomValues(new Uint8Array(32)) } }),
    code("invalid_input"),
  );
  // One flipped bit in the ciphertext, or in the header, and the record is refused.
  const body = sealed.slice();
  body[body.length - 20] ^= 1;
  await assert.rejects(() => decodeRecord(body, { keys }), code("invalid_input"));
  const renamed = swapInHeader(sealed, '"nickname":"secret-notes"', '"nickname":"secret-notez"');
  await assert.rejects(() => decodeRecord(renamed, { keys }), code("invalid_input"));
  // Without encryption the sha256 in the header catches a changed value.
  const flipped = plain.slice();
  flipped[flipped.length - 5] ^= 1;
  await assert.rejects(() => decodeRecord(flipped), code("invalid_input"));
  // A record naming a transform outside the registry is refused, not interpreted.
  const evil = swapInHeader(zipped, '"transforms":["gzip"]', '"transforms":["evil"]');
  const err = await rejection(() => decodeRecord(evil));
  assert(
    isRoamError(err) && err.code === "unsupported" && /unknown transform "evil"/.test(err.message),
  );
  // A record read under another id is refused.
  await assert.rejects(
    () => decodeRecord(plain, { expectId: constant(1).id }),
    code("invalid_input"),
  );
});

Deno.test("a memory that encrypts stores only ciphertext in its pool and refuses a missing key up front", async () => {
  await using local = await tempLocalPool();
  assert.throws(
    () => new Memory({ pools: { local: local.pool }, transforms: ["aes-256-gcm"], keys: {} }),
    code("invalid_input"),
  );
  assert.throws(
    () => new Memory({ pools: { local: local.pool }, transforms: ["zstd-maybe"] }),
    code("unsupported"),
  );
  const memory = new Memory({
    pools: { local: local.pool },
    transforms: ["gzip", "aes-256-gcm"],
    keys: { default: KEY },
  });
  const e = constant({ password: "hunter2" });
  await memory.memorize(e);
  const raw = await local.pool.get(e.id);
  assert(raw && !new TextDecoder().decode(raw).includes("hunter2"));
  assert.deepEqual((await memory.remember(e.id)).value, { password: "hunter2" });
  // A plaintext record planted in an encrypting memory's pool is refused: it is not authenticated.
  const planted = constant({ password: "planted" });
  await local.pool.put(planted.id, await encodeRecord(planted));
  await assert.rejects(() => memory.remember(planted.id), /not encrypted/);
});

Deno.test("copyPool copies every record with progress and skips what the target has", async () => {
  await using a = await tempLocalPool("a");
  const b = new MemoryPool("b");
  const memory = new Memory({ pools: { a: a.pool, b }, defaultPool: "a" });
  const entries = Array.from({ length: 1200 }, (_, i) => constant({ i }));
  await memory.memorize(entries);
  await memory.memorize(entries[0], { pool: "b" });
  const seen: number[] = [];
  const result = await copyPool(a.pool, b, {
    onProgress: (p) => seen.push(p.seen),
    concurrency: 4,
  });
  assert.deepEqual([result.copied, result.skipped, result.seen], [1199, 1, 1200]);
  assert.equal(seen.length, 1200);
  assert.equal(seen[seen.length - 1], 1200);
  assert.deepEqual((await memory.remember(entries[777].id, { pool: "b" })).value, { i: 777 });
  const again = await memory.copy("a", "b");
  assert.deepEqual([again.copied, again.skipped], [0, 1200]);
  // A copy can stop after some ids and resume where it stopped.
  const c = new MemoryPool("c");
  const part = await copyPool(a.pool, c, { maxKeys: 700 });
  assert.deepEqual([part.copied, c.stats().entries], [700, 700]);
  assert(part.next);
  const rest = await copyPool(a.pool, c, { after: part.next });
  assert.deepEqual([rest.copied, rest.next, c.stats().entries], [500, undefined, 1200]);
});

Deno.test("the memory secrets file must be private and well-formed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/memory-secrets.json`;
    assert.deepEqual(await readMemorySecrets(path), { keys: {}, s3: {} });
    await Deno.writeTextFile(path, JSON.stringify({ keys: { default: btoaOf(KEY) } }), {
      mode: 0o644,
    });
    await Deno.chmod(path, 0o644);
    await assert.rejects(() => readMemorySecrets(path), code("forbidden"));
    await Deno.chmod(path, 0o600);
    assert.deepEqual((await readMemorySecrets(path)).keys.default, KEY);
    await Deno.writeTextFile(path, JSON.stringify({ keys: { default: "c2hvcnQ=" } }));
    await assert.rejects(() => readMemorySecrets(path), code("invalid_input"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the peer pool stores into another host: blobs over the artifact routes, the index over RPC", async () => {
  await using peer = await startTestHost();
  // The peer host's ArtifactStore routes, through a front that counts uploads and can damage downloads.
  await using artifacts = serveArtifacts(peer.host.url, (t) => t === peer.token);
  const pool = new PeerPool({
    name: "peer",
    url: artifacts.url,
    token: peer.token,
    rpcUrl: peer.host.url,
  });
  const memory = new Memory({
    pools: { peer: pool, cache: new MemoryPool() },
    defaultPool: "peer",
  });
  const e = constant({ from: "afar" }, { nickname: "remote" });
  await memory.memorize(e);
  assert.deepEqual((await memory.remember({ nickname: "remote" })).value, { from: "afar" });
  assert.deepEqual((await memory.list()).keys, [e.id]);
  assert.equal(artifacts.puts, 1);
  // A blob that comes back different from its hash is refused.
  artifacts.corrupt = true;
  await assert.rejects(() => memory.remember(e.id), code("unavailable"));
  artifacts.corrupt = false;
  const copied = await memory.copy("peer", "cache");
  assert.equal(copied.copied, 1);
  assert.equal(await memory.forget(e.id), 1);
  await assert.rejects(() => memory.remember(e.id), code("not_found"));
  const bad = new PeerPool({
    name: "x",
    url: artifacts.url,
    token: "wrong",
    rpcUrl: peer.host.url,
  });
  const record = await encodeRecord(e);
  await assert.rejects(() => bad.put(e.id, record), code("unauthorized"));
});

/**
 * A front for a host's ArtifactStore routes (PUT /artifacts, GET
 * /artifacts/SHA256) that counts uploads and can damage what it sends back.
 */
function serveArtifacts(
  target: string,
  authorized: (token: string | null) => boolean,
  rpcTarget?: string,
) {
  const state = { puts: 0, corrupt: false };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const bearer = req.headers.get("authorization")?.replace(/^Bearer /, "") ?? null;
    if (url.pathname !== "/rpc" && !authorized(bearer)) {
      return Response.json({ error: "unauthorized" }, { status: 401 });
    }
    if (rpcTarget && url.pathname === "/rpc") {
      return await fetch(`${rpcTarget}/rpc`, {
        method: "POST",
        headers: req.headers,
        body: await req.text(),
      });
    }
    if (req.method === "PUT" && url.pathname === "/artifacts") {
      const bytes = new Uint8Array(await req.arrayBuffer());
      if (req.headers.get("x-roam-sha256") !== sha256Hex(bytes)) {
        return new Response("hash", { status: 400 });
      }
      state.puts++;
      return await fetch(`${target}/artifacts`, {
        method: "PUT",
        headers: req.headers,
        body: bytes,
      });
    }
    const m = /^\/artifacts\/([0-9a-f]{64})$/.exec(url.pathname);
    if (req.method === "GET" && m) {
      const response = await fetch(`${target}/artifacts/${m[1]}`, { headers: req.headers });
      if (response.status !== 200) return response;
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (state.corrupt) bytes[bytes.length - 1] ^= 1;
      return new Response(bytes);
    }
    return new Response("no route", { status: 404 });
  });
  return Object.assign(state, {
    url: `http://127.0.0.1:${server.addr.port}`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  });
}

function btoaOf(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function swapInHeader(record: Uint8Array, from: string, to: string): Uint8Array {
  assert.equal(from.length, to.length);
  const text = new TextDecoder("latin1").decode(record);
  const at = text.indexOf(from);
  assert(at > 0, `${from} not in the record`);
  const out = record.slice();
  out.set(new TextEncoder().encode(to), at);
  return out;
}

Deno.test("a local cache tier leaves its blobs unpinned and forgets a key whose blob was collected", async () => {
  await using t = await tempLocalPool();
  const cache = new LocalPool({ name: "cache-s3", db: t.db, blobs: t.blobs, pin: false });
  const record = await encodeRecord(constant("cached"));
  await cache.put("k:0", record);
  const { sha256 } = cache.lookup("k:0")!;
  assert.deepEqual(t.blobs.stat(sha256)?.pins, []);
  assert.deepEqual(await cache.get("k:0"), record);
  assert.equal(await t.blobs.remove(sha256), true); // what garbage collection does
  assert.equal(await cache.get("k:0"), null);
  assert.equal(await cache.has("k:0"), false);
});

Deno.test("a host's peer pool (memory.peers) stores into another host and reads back through its caches", async () => {
  await using b = await startTestHost({ name: "b" });
  // b's ArtifactStore routes through a front; RPC goes to b itself.
  await using front = serveArtifacts(b.host.url, (t) => {
    try {
      b.host.tokens.verify(t);
      return true;
    } catch {
      return false;
    }
  }, b.host.url);
  await using a = await startTestHost({
    name: "a",
    secretFile: `${b.dataDir}/secret`, // one mesh: a's tokens are good on b
    memory: { peers: { b: { url: front.url } } },
  });
  const aMem = openMemory(await connect({ url: a.host.url, token: a.token }));
  const bMem = openMemory(await connect({ url: b.host.url, token: b.token }));
  const pools = await aMem.pools();
  assert.deepEqual(pools.find((p) => p.name === "b")!.stats.tiers!.map((t) => t.kind), [
    "memory",
    "local",
    "peer",
  ]);
  const e = constant({ lives: "on b" }, { nickname: "far" });
  await aMem.memorize(e, { pool: "b" });
  assert.deepEqual((await bMem.remember({ nickname: "far" })).value, { lives: "on b" });
  assert.deepEqual((await aMem.remember({ nickname: "far" }, { pool: "b" })).value, {
    lives: "on b",
  });
  const after = (await aMem.pools()).find((p) => p.name === "b")!.stats.tiers!;
  assert.equal(after[0].stats.hits, 1, "a's in-process cache answered the read");
  assert.equal(await aMem.forget(e.id, { pool: "b" }), 1);
  await assert.rejects(() => bMem.remember(e.id), code("not_found"));
});

Deno.test("a local cache tier's blobs expire ttlMs after they were written, and collection then makes a miss", async () => {
  await using t = await tempLocalPool();
  const cache = new LocalPool({
    name: "cache-peer",
    db: t.db,
    blobs: t.blobs,
    pin: false,
    ttlMs: 60_000,
  });
  const record = await encodeRecord(constant("cached for a minute"));
  const before = Date.now();
  await cache.put("k:0", record);
  const { sha256 } = cache.lookup("k:0")!;
  const expiresAt = t.blobs.stat(sha256)?.expiresAt ?? 0;
  assert.ok(expiresAt >= before + 60_000 && expiresAt <= Date.now() + 60_000, String(expiresAt));
  await t.blobs.gc({ now: Date.now() + 30_000 });
  assert.deepEqual(await cache.get("k:0"), record, "kept before it expires");
  await t.blobs.gc({ now: Date.now() + 61_000 });
  assert.equal(await cache.get("k:0"), null, "collected once expired");
});
