import assert from "node:assert/strict";
import { isRoamError } from "../src/errors/mod.ts";
import {
  constant,
  Entry,
  guarantee,
  MANIFEST_NAMESPACE,
  manifestUuid,
  NAMESPACE_DNS,
  nicknameUuid,
  parseGlobalId,
  redactConfig,
  ROAM_NAMESPACE,
  track,
  uuidv5,
  variable,
} from "../src/memory/mod.ts";
import { rejection, tempMemory } from "./support/memory.ts";

const code = (c: string) => (e: unknown) => isRoamError(e) && e.code === c;

Deno.test("uuidv5 matches RFC 4122 and Python's uuid.uuid5 for known names", () => {
  assert.deepEqual(uuidv5(NAMESPACE_DNS, "python.org"), "886313e1-3b8a-5372-9b90-0c9aee199e5d");
  assert.deepEqual(uuidv5(NAMESPACE_DNS, "laila"), "6c8dcd4c-d490-58bc-81a7-6afbe8d17594");
  // Computed with Python: uuid5(NAMESPACE_DNS, "roam"), then names inside it.
  assert.deepEqual(ROAM_NAMESPACE, "034953f1-0a4c-5601-b260-126f3327eaed");
  assert.deepEqual(MANIFEST_NAMESPACE, "6d3e3ea2-0a9b-5d84-b296-605d6f1a333d");
  assert.deepEqual(nicknameUuid("my_entry"), "30701f81-e971-54f3-acbb-43b3f12a3275");
  assert.deepEqual(nicknameUuid("héllo"), "a1516463-5da8-5fdc-8583-8271d250de0c");
  assert(manifestUuid("my_entry") !== nicknameUuid("my_entry"));
});

Deno.test("entries: ids are uuid:evolution, values are frozen copies, code is refused", () => {
  const data = { a: [1, 2], b: "x" };
  const c = constant(data, { nickname: "my_entry" });
  assert.deepEqual(c.id, "30701f81-e971-54f3-acbb-43b3f12a3275:0");
  data.a.push(3);
  assert.deepEqual(c.value, { a: [1, 2], b: "x" });
  assert(Object.isFrozen(c.value));
  assert.throws(() => c.evolve(1), code("invalid_input"));
  const v0 = variable({ step: 0 });
  const v1 = v0.evolve({ step: 1 });
  assert.deepEqual([v1.uuid, v1.evolution, v0.evolution], [v0.uuid, 1, 0]);
  assert.throws(() => constant({ f: () => 1 }), code("invalid_input"));
  assert.throws(() => constant(new Date()), code("invalid_input"));
  assert.throws(() => constant(NaN), code("invalid_input"));
  assert.throws(() => parseGlobalId("nope"), code("invalid_input"));
  const bytes = new Uint8Array([1, 2, 3]);
  const b = constant(bytes);
  bytes[0] = 9;
  assert.deepEqual([...(b.value as Uint8Array)], [1, 2, 3]);
});

Deno.test("constants, evolving variables and bytes round-trip through the local pool", async () => {
  await using t = await tempMemory();
  const { memory } = t;
  const c = constant({ lr: 0.1, layers: [64, 32] }, { nickname: "cfg" });
  assert.deepEqual(await memory.memorize(c), c.id);
  const back = await memory.remember(c.id);
  assert.deepEqual([back.id, back.kind, back.value, back.nickname], [
    c.id,
    "constant",
    c.value,
    "cfg",
  ]);
  assert(back.createdAt);
  const v0 = variable({ step: 0 }, { nickname: "trainer" });
  const v1 = v0.evolve({ step: 1 });
  const v2 = v1.evolve({ step: 2 });
  await memory.memorize([v0, v1, v2]);
  assert.deepEqual((await memory.remember({ nickname: "trainer" })).value, { step: 2 });
  assert.deepEqual((await memory.remember({ nickname: "trainer", evolution: 1 })).value, {
    step: 1,
  });
  assert.deepEqual(await memory.evolutions(v0.uuid), [0, 1, 2]);
  const blob = constant(new Uint8Array(100_000).map((_, i) => i % 251));
  await memory.memorize(blob);
  assert.deepEqual((await memory.remember(blob.id)).value, blob.value);
  // Same content again is fine; other content under a stored id is a conflict.
  await memory.memorize(constant({ lr: 0.1, layers: [64, 32] }, { nickname: "cfg" }));
  await assert.rejects(
    () => memory.memorize(constant({ lr: 0.2 }, { nickname: "cfg" })),
    code("conflict"),
  );
  await memory.memorize(constant({ lr: 0.2 }, { nickname: "cfg" }), { overwrite: true });
  assert.deepEqual((await memory.remember({ nickname: "cfg" })).value, { lr: 0.2 });
});

Deno.test("many at once: memorize, remember and forget in one call each, missing ids named", async () => {
  await using t = await tempMemory();
  const { memory } = t;
  const entries = Array.from({ length: 300 }, (_, i) => constant({ i }));
  const ids = await memory.memorize(entries);
  assert.deepEqual(ids, entries.map((e) => e.id));
  const back = await memory.remember(ids);
  assert.deepEqual(back.map((e) => (e.value as { i: number }).i), entries.map((_, i) => i));
  assert.deepEqual(await memory.forget(ids.slice(0, 100)), 100);
  const err = await rejection(() => memory.remember(ids.slice(95, 105)));
  assert(isRoamError(err) && err.code === "not_found");
  assert.deepEqual((err.data as { missing: string[] }).missing, ids.slice(95, 100));
  assert.deepEqual((await memory.list({ limit: 1000 })).keys.length, 200);
  const page = await memory.list({ limit: 150 });
  assert.deepEqual(page.keys.length, 150);
  assert.deepEqual((await memory.list({ after: page.next })).keys.length, 50);
});

Deno.test("two writers of one new id with different content: one wins, the other gets a conflict", async () => {
  await using t = await tempMemory();
  const results = await Promise.allSettled([
    t.memory.memorize(constant({ writer: 1 }, { nickname: "race" })),
    t.memory.memorize(constant({ writer: 2 }, { nickname: "race" })),
  ]);
  assert.deepEqual(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
  const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
  assert(isRoamError(lost.reason) && lost.reason.code === "conflict");
});

Deno.test("forget unpins the blobs an entry referenced", async () => {
  await using t = await tempMemory();
  const e = constant("pinned");
  await t.memory.memorize(e);
  const link = t.local.pool.lookup(e.id)!;
  const holders = () => (t.local.blobs.stat(link.sha256)?.pins ?? []).map((p) => p.holder);
  assert.deepEqual(holders(), [`entry:${e.id}`]);
  await t.memory.forget(e.id);
  assert.deepEqual(holders(), []);
});

Deno.test("manifests: leaves stored first, recalled as a tree, versioned by nickname", async () => {
  await using t = await tempMemory();
  const { memory } = t;
  const weights = constant(new Uint8Array([1, 2, 3]), { nickname: "w" });
  const tree = {
    model: { weights, config: constant({ depth: 3 }) },
    shards: [constant("s0"), constant("s1")],
  };
  const m = await memory.putManifest(tree, { nickname: "run-1" });
  assert.deepEqual(m.entry.kind, "manifest");
  assert.deepEqual(m.id, `${manifestUuid("run-1")}:0`);
  assert.deepEqual(m.blueprint.model, { weights: weights.id, config: tree.model.config.id });
  const got = await memory.getManifest({ nickname: "run-1" });
  assert.deepEqual(got.blueprint, m.blueprint);
  const recalled = await memory.recall({ nickname: "run-1" });
  const model = recalled.model as Record<string, Entry>;
  assert.deepEqual(model.weights.value, weights.value);
  assert.deepEqual((recalled.shards as Entry[]).map((e) => e.value), ["s0", "s1"]);
  // Same content: same manifest. Other content: the next evolution.
  assert.deepEqual((await memory.putManifest(tree, { nickname: "run-1" })).id, m.id);
  const m1 = await memory.putManifest({ only: weights }, { nickname: "run-1" });
  assert.deepEqual(m1.id, `${manifestUuid("run-1")}:1`);
  assert.deepEqual((await memory.getManifest({ nickname: "run-1" })).id, m1.id);
  // An entry and a manifest of one nickname never collide.
  await memory.memorize(constant("plain", { nickname: "run-1" }));
  await assert.rejects(() => memory.putManifest({ x: "not-an-id" }), code("invalid_input"));
  assert.deepEqual(await memory.forgetManifest(m), 5);
  await assert.rejects(() => memory.remember(weights.id), code("not_found"));
});

Deno.test("guarantee waits for operations it did not await and rethrows the first error", async () => {
  await using t = await tempMemory();
  const { memory } = t;
  const a = constant("a");
  const b = constant("b");
  await guarantee(() => {
    memory.memorize(a);
    memory.memorize([b]);
  });
  assert.deepEqual((await memory.remember([a.id, b.id])).map((e) => e.value), ["a", "b"]);

  const c = constant("c");
  let aborted = false;
  const err = await rejection(() =>
    guarantee(async (signal) => {
      memory.remember(constant("never stored").id); // fails: not_found
      memory.memorize(constant("x"), { pool: "nope" }); // fails later or sooner
      await memory.memorize(c);
      await new Promise((r) => setTimeout(r, 0));
      aborted = signal.aborted;
    })
  );
  assert(isRoamError(err) && err.code === "not_found");
  assert(aborted, "the scope's signal aborts at the first failure");
  assert.deepEqual((await memory.remember(c.id)).value, "c");

  // Nested scopes: the outer one also sees the inner's operations.
  await assert.rejects(
    () =>
      guarantee(async () => {
        await guarantee(() => {}).then(() => {
          memory.remember(constant("missing").id);
        });
      }),
    code("not_found"),
  );
  // "First" is the order the failures happened, not the order the operations started.
  let failA!: (e: Error) => void;
  let failB!: (e: Error) => void;
  const order = rejection(() =>
    guarantee(() => {
      track(new Promise((_, reject) => failA = reject));
      track(new Promise((_, reject) => failB = reject));
    })
  );
  failB(new Error("b failed first"));
  failA(new Error("a failed second"));
  assert.equal(((await order) as Error).message, "b failed first");
  // The block's own error wins after its operations settle.
  const own = new Error("own");
  await assert.rejects(() =>
    guarantee(() => {
      memory.remember(constant("missing").id);
      throw own;
    }), (e: unknown) => e === own);
});

Deno.test("a configuration snapshot leaves out secrets, machine-local paths and URL user info", () => {
  const redacted = redactConfig({
    name: "a",
    dataDir: "/home/me/.roam",
    secretFile: "/home/me/.roam/secret",
    relay: ["http://user:pw@hub.example:7420/"],
    memory: { secretsFile: "/x", keyId: "default", transforms: ["gzip"] },
    s3: { accessKeyId: "AKIA", secretAccessKey: "shh", bucket: "b" },
    apiToken: "t",
    limits: { maxBatch: 5 },
  });
  assert.deepEqual(redacted, {
    name: "a",
    relay: ["http://hub.example:7420/"],
    memory: { keyId: "default", transforms: ["gzip"] },
    s3: { bucket: "b" },
    limits: { maxBatch: 5 },
  });
});
