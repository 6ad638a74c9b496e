/**
 * The S3 pool against a real S3-compatible server: moto's `moto_server`
 * (pip `moto[server]`, installed by .ci/run), started on loopback for these
 * tests. Where it is not installed, the tests print why they are skipped.
 */
import assert from "node:assert/strict";
import { AwsClient } from "aws4fetch";
import {
  ChainPool,
  constant,
  copyPool,
  Memory,
  MemoryPool,
  readConfigSnapshot,
  readRecordHeader,
  S3Pool,
  type S3Secret,
  variable,
} from "../src/memory/mod.ts";
import { connect } from "../mod.ts";
import { isRoamError } from "../src/errors/mod.ts";
import { startTestHost } from "./support/host.ts";
import { tempLocalPool } from "./support/memory.ts";

const MOTO = findMoto();
const ignore = MOTO === undefined;
if (ignore) {
  console.log(
    "skipped: memory S3 tests: moto_server not found (set ROAM_MOTO_SERVER, or pip install 'moto[server]' into ~/.cache/roam-ci/moto-venv as .ci/run does)",
  );
}

function findMoto(): string | undefined {
  const candidates = [
    Deno.env.get("ROAM_MOTO_SERVER"),
    `${Deno.env.get("HOME")}/.cache/roam-ci/moto-venv/bin/moto_server`,
  ];
  for (const path of candidates) {
    if (!path) continue;
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* not there */ }
  }
  return undefined;
}

/** A moto server on a free loopback port, with one bucket. */
async function startMoto(bucket: string) {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const child = new Deno.Command(MOTO!, {
    args: ["-H", "127.0.0.1", "-p", String(port)],
    stdout: "piped",
    stderr: "piped",
    env: { PYTHONUNBUFFERED: "1" },
  }).spawn();
  // Wait for the line that says it listens, on either stream.
  const ready = Promise.any([child.stdout, child.stderr].map(async (stream) => {
    let seen = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      seen += chunk;
      if (seen.includes(`Running on http://127.0.0.1:${port}`)) return;
    }
    throw new Error(`moto_server exited:\n${seen}`);
  }));
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    await ready;
  } finally {
    clearTimeout(timer);
  }
  const secret: S3Secret = {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    region: "us-east-1",
    accessKeyId: "roamtest",
    secretAccessKey: "roamtestsecret",
    prefix: "roam/",
  };
  const aws = new AwsClient({ ...secret, service: "s3" });
  const made = await aws.fetch(`${secret.endpoint}/${bucket}`, { method: "PUT" });
  await made.body?.cancel();
  assert(made.ok, `cannot create bucket: ${made.status}`);
  return {
    secret,
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.status;
      await Promise.allSettled([child.stdout.cancel(), child.stderr.cancel()]);
    },
  };
}

Deno.test({
  name: "the S3 pool stores, lists in pages, reads and deletes records under its own prefix",
  ignore,
  async fn() {
    await using s3 = await startMoto("roam-pool");
    const pool = new S3Pool({ name: "s3", secret: s3.secret });
    const other = new S3Pool({ name: "other", secret: s3.secret });
    const memory = new Memory({ pools: { s3: pool, other }, defaultPool: "s3" });
    const entries = Array.from({ length: 7 }, (_, i) => constant({ i }));
    await memory.memorize(entries);
    await memory.memorize(constant("elsewhere"), { pool: "other" });
    const back = await memory.remember(entries.map((e) => e.id));
    assert.deepEqual(back.map((e) => e.value), entries.map((_, i) => ({ i })));
    const sorted = entries.map((e) => e.id).sort();
    const first = await pool.list({ limit: 3 });
    assert.deepEqual(first.keys, sorted.slice(0, 3));
    const rest = await pool.list({ after: first.next });
    assert.deepEqual(rest.keys, sorted.slice(3));
    assert.equal(await pool.has(entries[0].id), true);
    assert.equal(await memory.forget(entries[0].id), 1);
    assert.equal(await pool.has(entries[0].id), false);
    assert.equal(await pool.get(entries[0].id), null);
    assert.equal((await other.list()).keys.length, 1, "pools in one bucket never see each other");
    // Write once, decided by the server: a conditional PUT loses to a record already there.
    const record = await pool.get(entries[1].id);
    assert.equal(await pool.create(entries[1].id, record!), false);
    assert.equal(await pool.create("00000000-0000-4000-8000-000000000000:0", record!), true);
    await assert.rejects(
      () => memory.memorize(constant({ i: 99 }, { uuid: entries[1].uuid })),
      (e: unknown) => isRoamError(e) && e.code === "conflict",
    );
    const v = variable({ n: 0 }, { nickname: "evolving" });
    await memory.memorize([v, v.evolve({ n: 1 })]);
    assert.deepEqual((await memory.remember({ nickname: "evolving" })).value, { n: 1 });
  },
});

Deno.test({
  name:
    "memory → local → S3: a chain caches S3 reads, counts hits and misses, and copies whole pools",
  ignore,
  async fn() {
    await using s3 = await startMoto("roam-chain");
    await using local = await tempLocalPool("cache-s3");
    const origin = new S3Pool({ name: "s3", secret: s3.secret });
    const lru = new MemoryPool("s3.cache");
    const chain = new ChainPool("s3", [lru, local.pool, origin]);
    const key = crypto.getRandomValues(new Uint8Array(32));
    const writer = new Memory({
      pools: { origin },
      defaultPool: "origin",
      transforms: ["gzip", "aes-256-gcm"],
      keys: { default: key },
    });
    const e = constant({ secret: "in the bucket" }, { nickname: "s3-entry" });
    await writer.memorize(e);
    const raw = await origin.get(e.id);
    assert.deepEqual(readRecordHeader(raw!).header.transforms, ["gzip", "aes-256-gcm"]);
    assert(!new TextDecoder().decode(raw!).includes("in the bucket"));

    const reader = new Memory({ pools: { s3: chain }, defaultPool: "s3", keys: { default: key } });
    assert.deepEqual((await reader.remember({ nickname: "s3-entry" })).value, {
      secret: "in the bucket",
    });
    let s = chain.stats();
    assert.deepEqual(s.tiers.map((t) => [t.stats.hits, t.stats.misses]), [[0, 1], [0, 1], [2, 0]]); // the origin's first hit was the raw read above
    assert.equal(
      await local.pool.has(e.id),
      true,
      "the S3 hit was written back to the local cache",
    );
    await reader.remember(e.id);
    s = chain.stats();
    assert.deepEqual(s.tiers.map((t) => t.stats.hits), [1, 0, 2]);
    await lru.delete(e.id);
    await reader.remember(e.id);
    assert.deepEqual(chain.stats().tiers.map((t) => t.stats.hits), [1, 1, 2]);

    // A whole pool copied from local to S3 and back into a fresh memory pool.
    await using src = await tempLocalPool("src");
    const mem = new Memory({ pools: { src: src.pool }, defaultPool: "src" });
    await mem.memorize(Array.from({ length: 25 }, (_, i) => constant({ i })));
    const up = await copyPool(src.pool, origin);
    assert.equal(up.copied, 25);
    const down = new MemoryPool("down");
    const result = await copyPool(origin, down);
    assert.equal(result.copied, 26);
  },
});

Deno.test({
  name:
    "a host with an S3 pool from its secrets file exports its configuration there and a new host reads it back",
  ignore,
  async fn() {
    await using s3 = await startMoto("roam-config");
    const dataDir = await Deno.makeTempDir({ prefix: "roam-s3-host-" });
    try {
      const secrets = `${dataDir}/memory-secrets.json`;
      await Deno.writeTextFile(secrets, JSON.stringify({ s3: { archive: s3.secret } }), {
        mode: 0o600,
      });
      await using t = await startTestHost({ dataDir, name: "s3host", tags: ["archive"] });
      const mesh = await connect({ url: t.host.url, token: t.token });
      const { memory } = mesh;
      const { pools } = await memory.pools();
      const archive = pools.find((p) => p.name === "archive")!;
      assert.deepEqual(archive.stats.tiers?.map((x) => x.kind), ["memory", "local", "s3"]);
      const exported = await mesh.config.export({ pool: "archive", nickname: "s3-config" });
      assert.equal(exported.pool, "archive");
      const elsewhere = await Deno.makeTempDir({ prefix: "roam-s3-other-" });
      try {
        await Deno.writeTextFile(
          `${elsewhere}/memory-secrets.json`,
          JSON.stringify({ s3: { archive: s3.secret } }),
          {
            mode: 0o600,
          },
        );
        const snapshot = await readConfigSnapshot({
          dataDir: elsewhere,
          pool: "archive",
          nickname: "s3-config",
        });
        assert.deepEqual((snapshot.config as { tags: string[] }).tags, ["archive"]);
        assert(
          !JSON.stringify(snapshot).includes("roamtestsecret"),
          "S3 credentials never leave the secrets file",
        );
      } finally {
        await Deno.remove(elsewhere, { recursive: true });
      }
      await mesh.close();
    } finally {
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
