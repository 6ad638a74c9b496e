/**
 * The artifact HTTP surface of one host on loopback: bearer-token auth,
 * streamed uploads (201 new, 200 stored already), a wrong X-Roam-Sha256,
 * ranges and resume, HEAD, quotas, expiry, an upload the client aborts in
 * the middle, and the artifact.* RPC methods.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { connect } from "../mod.ts";
import { failure } from "./support/agents.ts";
import { startTestHost } from "./support/host.ts";

const sha = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

function random(size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

async function parts(dataDir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(dataDir, "artifacts", "blobs"))) {
    if (e.name.startsWith(".part-")) out.push(e.name);
  }
  return out;
}

Deno.test("blobs go up and come down over HTTP: auth, dedup, wrong hash, ranges, HEAD", async () => {
  await using t = await startTestHost();
  const base = `${t.host.url}/artifacts`;
  const auth = { authorization: `Bearer ${t.token}` };
  const data = random(3 * 1024 * 1024 + 17);
  const hash = sha(data);

  const anonymous = await fetch(base, { method: "PUT", body: data });
  assert.equal(anonymous.status, 401);
  assert.equal((await anonymous.json()).error.code, "unauthorized");
  const anonymousGet = await fetch(`${base}/${hash}`);
  assert.equal(anonymousGet.status, 401);
  await anonymousGet.body?.cancel();

  const wrong = await fetch(base, {
    method: "PUT",
    headers: { ...auth, "x-roam-sha256": sha(new Uint8Array(1)) },
    body: data,
  });
  assert.equal(wrong.status, 400);
  const wrongBody = await wrong.json();
  assert.equal(wrongBody.error.code, "invalid_input");
  assert.equal(wrongBody.error.data.actual, hash);
  const missing = await fetch(`${base}/${hash}`, { method: "HEAD", headers: auth });
  assert.equal(missing.status, 404, "a refused upload is not visible");

  const put = await fetch(base, {
    method: "PUT",
    headers: { ...auth, "x-roam-sha256": hash, "x-roam-name": "data.bin" },
    body: ReadableStream.from([data.subarray(0, 1000), data.subarray(1000)]),
  });
  assert.equal(put.status, 201);
  const stored = await put.json();
  assert.equal(stored.sha256, hash);
  assert.equal(stored.size, data.byteLength);
  const again = await fetch(base, { method: "POST", headers: auth, body: data });
  assert.equal(again.status, 200, "the same bytes again: stored already");
  assert.equal((await again.json()).created, stored.created);

  const head = await fetch(`${base}/${hash}`, { method: "HEAD", headers: auth });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), String(data.byteLength));
  assert.equal(head.headers.get("x-roam-sha256"), hash);
  assert.equal(head.headers.get("accept-ranges"), "bytes");

  const whole = await fetch(`${base}/${hash}`, { headers: auth });
  assert.equal(whole.status, 200);
  assert.equal(sha(await whole.bytes()), hash);

  // Resume: the first part, then the rest from where it stopped.
  const first = await fetch(`${base}/${hash}`, { headers: { ...auth, range: "bytes=0-99999" } });
  assert.equal(first.status, 206);
  assert.equal(first.headers.get("content-range"), `bytes 0-99999/${data.byteLength}`);
  const start = await first.bytes();
  const rest = await fetch(`${base}/${hash}`, { headers: { ...auth, range: "bytes=100000-" } });
  assert.equal(rest.status, 206);
  const joined = new Uint8Array(data.byteLength);
  joined.set(start);
  joined.set(await rest.bytes(), start.byteLength);
  assert.equal(sha(joined), hash);
  const past = await fetch(`${base}/${hash}`, {
    headers: { ...auth, range: `bytes=${data.byteLength}-` },
  });
  assert.equal(past.status, 416);
  assert.equal(past.headers.get("content-range"), `bytes */${data.byteLength}`);

  const bad = await fetch(`${base}/not-a-hash`, { headers: auth });
  assert.equal(bad.status, 400);
  await bad.body?.cancel();

  const mesh = await connect({ url: t.host.url, token: t.token });
  const listed = await mesh.artifact.list();
  assert.equal(listed.artifacts.length, 1);
  assert.equal(listed.artifacts[0].name, "data.bin");
  assert.equal(listed.usage.usedBytes, data.byteLength);
  await mesh.artifact.pin({ sha256: hash, holder: "user" });
  assert.equal((await failure(mesh.artifact.remove({ sha256: hash }))).code, "conflict");
  assert.deepEqual(await mesh.artifact.unpin({ sha256: hash }), { removed: true });
  assert.deepEqual(await mesh.artifact.remove({ sha256: hash }), { removed: true });
  assert.equal((await failure(mesh.artifact.stat({ sha256: hash }))).code, "not_found");
  await mesh.close();
});

Deno.test("an upload the client aborts mid-body leaves nothing visible and no temporary file", async () => {
  await using t = await startTestHost();
  const data = random(8 * 1024 * 1024);
  const hash = sha(data);
  const abort = new AbortController();
  let sent = 0;
  const firstChunks = Promise.withResolvers<void>();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent >= 2 * 1024 * 1024) {
        firstChunks.resolve();
        // Never sends the rest: the client gives up instead.
        await new Promise(() => {});
      }
      controller.enqueue(data.subarray(sent, sent + 256 * 1024));
      sent += 256 * 1024;
    },
  });
  const upload = fetch(`${t.host.url}/artifacts`, {
    method: "PUT",
    headers: { authorization: `Bearer ${t.token}`, "x-roam-sha256": hash },
    body,
    signal: abort.signal,
  }).catch((error) => error);
  await firstChunks.promise;
  // A part file exists while the body arrives.
  while ((await parts(t.dataDir)).length === 0) await new Promise((r) => setTimeout(r, 10));
  abort.abort();
  assert.ok(await upload instanceof Error);
  // The server notices the broken body, removes the part file and records nothing.
  const deadline = Date.now() + 10_000;
  while ((await parts(t.dataDir)).length > 0) {
    assert.ok(Date.now() < deadline, "the part file was not removed");
    await new Promise((r) => setTimeout(r, 20));
  }
  const head = await fetch(`${t.host.url}/artifacts/${hash}`, {
    method: "HEAD",
    headers: { authorization: `Bearer ${t.token}` },
  });
  assert.equal(head.status, 404);
  const mesh = await connect({ url: t.host.url, token: t.token });
  assert.equal((await mesh.artifact.list()).usage.usedBytes, 0);
  await mesh.close();
});

Deno.test("quotas and expiry over HTTP: too_large, quota_exceeded, and an expired blob collected", async () => {
  await using t = await startTestHost({
    artifacts: { maxBlobBytes: 4096, quotaBytes: 6000, releaseGraceMs: 0 },
  });
  const auth = { authorization: `Bearer ${t.token}` };
  const big = await fetch(`${t.host.url}/artifacts`, {
    method: "PUT",
    headers: auth,
    body: new Uint8Array(5000),
  });
  assert.equal(big.status, 413);
  const bigError = (await big.json()).error;
  assert.equal(bigError.code, "too_large");
  assert.equal(bigError.data.limit, 4096);

  const first = await fetch(`${t.host.url}/artifacts`, {
    method: "PUT",
    headers: { ...auth, "x-roam-expires-in": "1" },
    body: new Uint8Array(4000).fill(1),
  });
  assert.equal(first.status, 201);
  const { sha256 } = await first.json();
  const full = await fetch(`${t.host.url}/artifacts`, {
    method: "PUT",
    headers: auth,
    body: new Uint8Array(4000).fill(2),
  });
  assert.equal(full.status, 507);
  const fullError = (await full.json()).error;
  assert.equal(fullError.code, "quota_exceeded");
  assert.deepEqual([fullError.data.used, fullError.data.quota], [4000, 6000]);

  const mesh = await connect({ url: t.host.url, token: t.token });
  const expires = (await mesh.artifact.stat({ sha256 })).expires;
  assert.ok(expires && Date.parse(expires) > Date.now() - 5_000);
  // Once expired it is not served; the next upload that needs room collects it first.
  while (Date.parse(expires!) > Date.now()) await new Promise((r) => setTimeout(r, 50));
  const gone = await fetch(`${t.host.url}/artifacts/${sha256}`, { headers: auth });
  assert.equal(gone.status, 404);
  await gone.body?.cancel();
  const now = await fetch(`${t.host.url}/artifacts`, {
    method: "PUT",
    headers: auth,
    body: new Uint8Array(4000).fill(2),
  });
  assert.equal(now.status, 201);
  await now.body?.cancel();
  assert.equal((await mesh.artifact.list()).usage.usedBytes, 4000);
  await mesh.close();
});
