import assert from "node:assert/strict";
import { join } from "node:path";
import { RoamError } from "../errors/mod.ts";
import { AgentStorage } from "./storage.ts";

async function withStorage(
  options: { quotaBytes?: number; maxValueBytes?: number; maxKeys?: number },
  fn: (storage: AgentStorage, dataDir: string) => Promise<void>,
): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-storage-" });
  try {
    await fn(new AgentStorage({ dataDir, ...options }), dataDir);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

const bytes = (n: number, fill = 7) => new Uint8Array(n).fill(fill);
const code = (code: string) => (error: unknown) =>
  error instanceof RoamError && error.code === code;

Deno.test("values round-trip as files under the plugin's kv dir; list is sorted; delete says whether it was there", async () => {
  await withStorage({}, async (storage, dataDir) => {
    await storage.put("echo", "b.json", new TextEncoder().encode("{}"));
    await storage.put("echo", "a", bytes(3));
    assert.deepEqual(await storage.get("echo", "a"), bytes(3));
    assert.equal(
      await Deno.readTextFile(join(dataDir, "agents/storage/echo/kv/b.json")),
      "{}",
    );
    assert.deepEqual(await storage.list("echo"), ["a", "b.json"]);
    assert.deepEqual(await storage.list("echo", "b"), ["b.json"]);
    assert.deepEqual(await storage.list("other"), []);
    assert.equal(await storage.get("other", "a"), null);
    assert.equal(await storage.delete("echo", "a"), true);
    assert.equal(await storage.delete("echo", "a"), false);
    assert.equal(await storage.get("echo", "a"), null);
    // The temp files of atomic writes are gone.
    assert.deepEqual([...Deno.readDirSync(join(dataDir, "agents/storage/echo/.tmp"))], []);
  });
});

Deno.test("keys outside 1-200 of [A-Za-z0-9._-], '.', and keys with '..' are refused", async () => {
  await withStorage({}, async (storage) => {
    for (const key of ["", ".", "..", "a..b", "../x", "a/b", "é", "x".repeat(201), "a b"]) {
      await assert.rejects(storage.put("echo", key, bytes(1)), code("invalid_input"), key);
      await assert.rejects(storage.get("echo", key), code("invalid_input"), key);
    }
    await storage.put("echo", "x".repeat(200), bytes(1));
    await storage.put("echo", ".hidden_-1", bytes(1));
    assert.equal((await storage.list("echo")).length, 2);
  });
});

Deno.test("a plugin name that is not one never becomes a path", async () => {
  await withStorage({}, async (storage) => {
    for (const plugin of ["", "..", "a/b", "Echo"]) {
      await assert.rejects(storage.put(plugin, "k", bytes(1)), code("unavailable"), plugin);
    }
  });
});

Deno.test("the quota counts every file of the plugin dir, replacing a value counts only the difference", async () => {
  await withStorage({ quotaBytes: 1000, maxValueBytes: 600 }, async (storage, dataDir) => {
    await storage.put("echo", "a", bytes(500));
    await storage.put("echo", "a", bytes(600)); // replaces: 600 used
    const error = await storage.put("echo", "b", bytes(500)).catch((e) => e);
    assert.ok(code("quota_exceeded")(error));
    assert.match(error.message, /600 of 1000 bytes used/);
    assert.deepEqual({ used: error.data.used, limit: error.data.limit }, {
      used: 600,
      limit: 1000,
    });
    // A file an agent wrote directly counts too.
    await Deno.writeFile(join(dataDir, "agents/storage/echo/own.bin"), bytes(300));
    assert.equal(await storage.usage("echo"), 900);
    await assert.rejects(storage.put("echo", "c", bytes(101)), code("quota_exceeded"));
    await storage.put("echo", "c", bytes(100));
    // Other plugins have their own quota.
    await storage.put("other", "a", bytes(600));
    await assert.rejects(storage.put("echo", "d", bytes(601)), code("too_large"));
  });
});

Deno.test("concurrent puts cannot both pass the quota check", async () => {
  await withStorage({ quotaBytes: 1000 }, async (storage) => {
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => storage.put("echo", `k${i}`, bytes(300))),
    );
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 3);
    assert.equal(await storage.usage("echo"), 900);
  });
});

Deno.test("the number of keys is bounded", async () => {
  await withStorage({ maxKeys: 2 }, async (storage) => {
    await storage.put("echo", "a", bytes(1));
    await storage.put("echo", "b", bytes(1));
    await storage.put("echo", "a", bytes(2)); // a replacement is not a new key
    await assert.rejects(storage.put("echo", "c", bytes(1)), code("quota_exceeded"));
  });
});

Deno.test("values cross the worker link as base64; byte arrays are taken too; a value too big for get is refused", async () => {
  await withStorage({ maxValueBytes: 10 }, async (storage, dataDir) => {
    await storage.request("echo", "storage.put", { key: "a", value: bytes(4, 255).toBase64() });
    assert.equal(await storage.request("echo", "storage.get", { key: "a" }), "/////w==");
    await storage.request("echo", "storage.put", { key: "b", value: [1, 2] });
    assert.deepEqual(await storage.get("echo", "b"), new Uint8Array([1, 2]));
    assert.deepEqual(await storage.request("echo", "storage.list", {}), ["a", "b"]);
    assert.equal(await storage.request("echo", "storage.get", { key: "none" }), null);
    await assert.rejects(
      storage.request("echo", "storage.put", { key: "c", value: "!!not base64" }),
      code("invalid_input"),
    );
    await assert.rejects(
      storage.request("echo", "storage.put", { key: "c", value: [1, 256] }),
      code("invalid_input"),
    );
    await assert.rejects(
      storage.request("echo", "storage.put", { key: "c", value: bytes(11).toBase64() }),
      code("too_large"),
    );
    await Deno.writeFile(join(dataDir, "agents/storage/echo/kv/big"), bytes(11));
    await assert.rejects(storage.request("echo", "storage.get", { key: "big" }), code("too_large"));
    await storage.request("echo", "storage.delete", { key: "a" });
    assert.deepEqual(await storage.list("echo"), ["b", "big"]);
  });
});
