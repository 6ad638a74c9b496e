/**
 * The ArtifactStore on its own (a migrated SQLite database in a temporary
 * dir): dedup, verification, quotas, expiry, pins and garbage collection,
 * interrupted uploads, and what a restart finds on disk.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { ArtifactsConfigSchema, ArtifactStore } from "../src/artifacts/mod.ts";
import { isRoamError } from "../src/errors/mod.ts";
import { openStore } from "../src/store/mod.ts";

/** What the memory layer uses of the store (its pools reach it through exactly this). */
interface MemoryLayerStore {
  putBytes(
    bytes: Uint8Array,
    meta?: { name?: string; mediaType?: string; owner?: string },
  ): Promise<{ sha256: string; size: number }>;
  getBytes(sha256: string): Promise<Uint8Array | null>;
  has(sha256: string): Promise<boolean>;
  pin(sha256: string, holder: string): Promise<void>;
  unpin(sha256: string, holder: string): Promise<void>;
}
// A compile-time check: the ArtifactStore keeps that surface.
export const _fitsMemoryLayer = (store: ArtifactStore): MemoryLayerStore => store;

type Config = Partial<ReturnType<typeof ArtifactsConfigSchema.parse>>;

async function withStore(
  config: Config,
  fn: (store: ArtifactStore, dir: string, reopen: () => Promise<ArtifactStore>) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "roam-artifacts-" });
  const dbs: DatabaseSync[] = [];
  const open = async () => {
    const db = openStore({ path: join(dir, "roam.db") });
    dbs.push(db);
    const store = new ArtifactStore({
      db,
      dataDir: dir,
      config: ArtifactsConfigSchema.parse(config),
    });
    await store.init();
    return store;
  };
  try {
    await fn(await open(), dir, open);
  } finally {
    for (const db of dbs) db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const bytes = (text: string) => new TextEncoder().encode(text);
const sha = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isRoamError(error)) return error.code;
    throw error;
  }
  assert.fail("it succeeded");
}

async function parts(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(dir, "artifacts", "blobs"))) {
    if (e.name.startsWith(".part-")) out.push(e.name);
  }
  return out;
}

Deno.test("the same bytes stored twice are kept once, and read back whole or in part", async () => {
  await withStore({}, async (store) => {
    const data = bytes("hello artifacts");
    const first = await store.putBytes(data, { name: "a.txt" });
    assert.equal(first.sha256, sha(data));
    const again = await store.put(ReadableStream.from([data.slice(0, 5), data.slice(5)]));
    assert.equal(again.created, false);
    assert.equal(store.usage().blobs, 1);
    assert.equal(store.usage().usedBytes, data.byteLength);
    assert.deepEqual(await store.getBytes(first.sha256), data);
    const part = await store.open(first.sha256, { start: 6, end: 8 });
    assert.equal(new TextDecoder().decode(await new Response(part!.stream).bytes()), "art");
    assert.equal(store.stat(first.sha256)?.name, "a.txt");
    assert.equal(await store.has(sha(bytes("other"))), false);
  });
});

Deno.test("bytes that do not match the expected sha256 are refused and leave nothing", async () => {
  await withStore({}, async (store, dir) => {
    const wrong = sha(bytes("something else"));
    assert.equal(
      await code(store.put(ReadableStream.from([bytes("payload")]), { sha256: wrong })),
      "invalid_input",
    );
    assert.equal(await store.has(wrong), false);
    assert.equal(await store.has(sha(bytes("payload"))), false);
    assert.deepEqual(await parts(dir), []);
    assert.equal(store.usage().usedBytes, 0);
  });
});

Deno.test("an upload that breaks off mid-body leaves nothing visible and no temporary file", async () => {
  await withStore({}, async (store, dir) => {
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 3) controller.enqueue(new Uint8Array(64 * 1024).fill(sent));
        else controller.error(new Error("connection reset by peer"));
      },
    });
    assert.equal(await code(store.put(body)), "unavailable");
    assert.deepEqual(await parts(dir), []);
    assert.equal(store.usage().blobs, 0);
    assert.equal(store.usage().usedBytes, 0);
  });
});

Deno.test("quotas: a blob past the per-blob limit and a store past its total fail with numbers", async () => {
  await withStore({ maxBlobBytes: 1000, quotaBytes: 1500 }, async (store, dir) => {
    try {
      await store.putBytes(new Uint8Array(1001));
      assert.fail("a blob over the limit was stored");
    } catch (error) {
      assert.ok(isRoamError(error, "too_large"));
      assert.equal(error.data.limit, 1000);
      assert.match(error.message, /at most 1000 bytes/);
    }
    // Announced size over the limit: refused before reading anything.
    assert.equal(
      await code(store.put(ReadableStream.from([new Uint8Array(10)]), { size: 5000 })),
      "too_large",
    );
    await store.putBytes(new Uint8Array(900).fill(1));
    try {
      await store.putBytes(new Uint8Array(900).fill(2));
      assert.fail("the store went past its quota");
    } catch (error) {
      assert.ok(isRoamError(error, "quota_exceeded"));
      assert.equal(error.data.quota, 1500);
      assert.match(error.message, /900 of 1500 bytes used/);
    }
    // Streamed without a size: stopped when the running total passes the quota.
    assert.equal(
      await code(store.put(ReadableStream.from([new Uint8Array(400), new Uint8Array(400)]))),
      "quota_exceeded",
    );
    assert.deepEqual(await parts(dir), []);
    assert.equal(store.usage().usedBytes, 900);
  });
});

Deno.test("expiry hides a blob and garbage collection removes it; a pin keeps it", async () => {
  await withStore({ releaseGraceMs: 0 }, async (store) => {
    const past = Date.now() - 1;
    const gone = await store.put(ReadableStream.from([bytes("short-lived")]), { expiresAt: past });
    const kept = await store.put(ReadableStream.from([bytes("pinned")]), { expiresAt: past });
    const plain = await store.putBytes(bytes("no expiry"));
    await store.pin(kept.sha256, "job:42");
    assert.equal(await store.has(gone.sha256), false, "an expired blob is not served");
    assert.equal(await store.has(kept.sha256), true, "a pinned one is");
    const dry = await store.gc({ dryRun: true });
    assert.deepEqual(dry.removed.map((r) => r.sha256), [gone.sha256]);
    assert.equal(store.usage().blobs, 3, "a dry run removes nothing");
    const result = await store.gc();
    assert.deepEqual(result.removed, [{ sha256: gone.sha256, size: 11, reason: "expired" }]);
    assert.equal(result.freedBytes, 11);
    assert.equal(await store.has(kept.sha256), true);
    assert.equal(
      await store.has(plain.sha256),
      true,
      "a blob never pinned and without expiry stays",
    );
  });
});

Deno.test("garbage collection never removes a pinned blob; the last unpin releases it", async () => {
  await withStore({ releaseGraceMs: 60_000 }, async (store) => {
    const { sha256 } = await store.putBytes(bytes("model weights"));
    await store.pin(sha256, "agent:a1", "weights.bin");
    await store.pin(sha256, "entry:e1");
    assert.equal(await code(store.remove(sha256)), "conflict");
    const later = Date.now() + 10 * 86400_000;
    assert.deepEqual((await store.gc({ now: later })).removed, []);
    await store.unpin(sha256, "agent:a1");
    assert.deepEqual((await store.gc({ now: later })).removed, [], "still pinned by the entry");
    assert.equal(store.releaseHolder("entry:e1"), 1);
    assert.notEqual(store.stat(sha256)?.releasedAt, null);
    assert.deepEqual((await store.gc()).removed, [], "within the grace period");
    assert.deepEqual((await store.gc({ now: later })).removed.map((r) => r.reason), ["released"]);
    assert.equal(await store.has(sha256), false);
    assert.equal(await code(store.pin(sha256, "user")), "not_found");
    assert.equal(await code(store.pin(sha256, "robot")), "invalid_input");
  });
});

Deno.test("a restart drops temporary files and records blob files that lack a row", async () => {
  await withStore({}, async (store, dir, reopen) => {
    const { sha256 } = await store.putBytes(bytes("kept"));
    const blobs = join(dir, "artifacts", "blobs");
    await Deno.writeFile(join(blobs, ".part-leftover"), bytes("half"));
    const orphan = bytes("renamed but not recorded");
    await Deno.writeFile(join(blobs, sha(orphan)), orphan);
    const again = await reopen();
    assert.deepEqual(await parts(dir), []);
    assert.equal(await again.has(sha256), true);
    assert.equal(again.stat(sha(orphan))?.size, orphan.byteLength);
    assert.notEqual(again.stat(sha(orphan))?.releasedAt, null);
  });
});

Deno.test("a blob still arriving under a known sha256 is served as it grows, and a reader fails with the upload", async () => {
  await withStore({}, async (store) => {
    const data = new Uint8Array(3 * 1024 * 1024 + 5);
    for (let i = 0; i < data.length; i += 65536) {
      crypto.getRandomValues(data.subarray(i, i + 65536));
    }
    const hash = sha(data);
    let feed!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (c) => void (feed = c) });
    const storing = store.put(body, { sha256: hash, size: data.byteLength });
    assert.equal(await store.whenAvailable(hash, 1000), true);
    const growing = await store.open(hash);
    assert.equal(growing?.complete, false);
    assert.equal(growing?.size, data.byteLength);
    const read = new Response(growing!.stream).bytes();
    for (let i = 0; i < data.length; i += 256 * 1024) feed.enqueue(data.slice(i, i + 256 * 1024));
    feed.close();
    assert.equal((await storing).created, true);
    assert.equal(sha(await read), hash, "the follower got every byte");

    const other = bytes("will break");
    let broken!: ReadableStreamDefaultController<Uint8Array>;
    const failing = store.put(new ReadableStream({ start: (c) => void (broken = c) }), {
      sha256: sha(other),
    });
    assert.equal(await store.whenAvailable(sha(other), 1000), true);
    const follower = await store.open(sha(other));
    const reading = new Response(follower!.stream).bytes().then(() => "ended", () => "failed");
    broken.enqueue(other.slice(0, 4));
    broken.error(new Error("the sender went away"));
    assert.equal(await code(failing), "unavailable");
    assert.equal(await reading, "failed");
    assert.equal(await store.has(sha(other)), false);
    assert.equal(await store.whenAvailable(sha(bytes("never")), 10), false);
  });
});

Deno.test("uploads past the concurrency limit are refused with queue_full", async () => {
  await withStore({ maxConcurrentUploads: 1 }, async (store) => {
    let first!: ReadableStreamDefaultController<Uint8Array>;
    const writing = store.put(new ReadableStream({ start: (c) => void (first = c) }));
    first.enqueue(bytes("in progress"));
    assert.equal(await code(store.putBytes(bytes("second"))), "queue_full");
    first.close();
    await writing;
    await store.putBytes(bytes("second"));
    assert.equal(store.usage().blobs, 2);
  });
});

Deno.test("an upload that stalls is abandoned after the idle time, leaving nothing", async () => {
  await withStore({ idleTimeoutMs: 200 }, async (store, dir) => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes("a first chunk, then silence"));
      },
    });
    const started = performance.now();
    assert.equal(await code(store.put(body)), "timeout");
    assert.ok(performance.now() - started < 5_000);
    assert.deepEqual(await parts(dir), []);
    assert.equal(store.usage().blobs, 0);
  });
});

Deno.test("a big upload is hashed in the worker and checked the same way", async () => {
  await withStore({}, async (store, dir) => {
    try {
      const data = new Uint8Array(9 * 1024 * 1024 + 7);
      for (let i = 0; i < data.length; i += 65536) {
        crypto.getRandomValues(data.subarray(i, i + 65536));
      }
      const chunks = () => {
        const out: Uint8Array[] = [];
        for (let i = 0; i < data.length; i += 100_000) out.push(data.slice(i, i + 100_000));
        return ReadableStream.from(out);
      };
      const stored = await store.put(chunks(), { size: data.byteLength });
      assert.equal(stored.sha256, sha(data));
      assert.deepEqual(await store.getBytes(stored.sha256), data);
      // The wrong hash is caught on this path too, and nothing is left.
      await store.remove(stored.sha256);
      const wrong = sha(bytes("not these bytes"));
      assert.equal(
        await code(store.put(chunks(), { size: data.byteLength, sha256: wrong })),
        "invalid_input",
      );
      assert.deepEqual(await parts(dir), []);
      assert.equal(store.usage().blobs, 0);
    } finally {
      await store.stop();
    }
  });
});
