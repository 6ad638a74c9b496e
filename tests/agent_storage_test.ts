/**
 * Agent storage on a real host: the plugin's key-value store, its quota,
 * and each agent's scratch dir (its own, wiped when the host starts).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { connect, isRoamError } from "../mod.ts";
import { ask, installPluginDir as install } from "./support/agents.ts";
import { startTestHost } from "./support/host.ts";

const TOOLBOX = new URL("./fixtures/plugins/toolbox", import.meta.url).pathname;
const MiB = 1024 * 1024;

const rejectsWith = (code: string, message?: RegExp) => (error: unknown) => {
  assert.ok(isRoamError(error), String(error));
  assert.equal(error.code, code, error.message);
  if (message) assert.match(error.message, message);
  return true;
};

Deno.test("put, get, list and delete round-trip through the plugin's kv dir, shared by its agents", async () => {
  await using t = await startTestHost();
  const mesh = await connect({ url: t.host.url, token: t.token });
  try {
    await install(mesh, TOOLBOX);
    const { id: a } = await mesh.agent.create({ plugin: "toolbox" });
    const { id: b } = await mesh.agent.create({ plugin: "toolbox" });
    await ask(mesh, a, "put", { key: "greeting.txt", text: "hello" });
    await ask(mesh, a, "put", { key: "blob", bytes: 3 * MiB });
    assert.equal(await ask(mesh, a, "get", { key: "greeting.txt" }), "hello");
    assert.equal(
      await ask(mesh, b, "get", { key: "greeting.txt" }),
      "hello",
      "shared by the plugin",
    );
    assert.equal(await ask(mesh, b, "getSize", { key: "blob" }), 3 * MiB);
    assert.deepEqual(await ask(mesh, b, "list"), ["blob", "greeting.txt"]);
    const kv = join(t.dataDir, "agents", "storage", "toolbox", "kv");
    assert.equal(await Deno.readTextFile(join(kv, "greeting.txt")), "hello");

    await ask(mesh, b, "put", { key: "greeting.txt", text: "hi again" });
    assert.equal(await ask(mesh, a, "get", { key: "greeting.txt" }), "hi again");
    await ask(mesh, a, "delete", { key: "greeting.txt" });
    assert.equal(await ask(mesh, a, "get", { key: "greeting.txt" }), null);
    assert.deepEqual(await ask(mesh, a, "list"), ["blob"]);

    for (const key of ["../escape", ".", "a/b", "x".repeat(201)]) {
      await assert.rejects(
        ask(mesh, a, "put", { key, text: "no" }),
        rejectsWith("invalid_input", /storage key/),
      );
    }
    const huge = await ask(mesh, a, "attempt", {
      kind: "put",
      args: { key: "huge", bytes: 8 * MiB + 1 },
    }) as { ok: boolean; code: string; message: string };
    assert.equal(huge.code, "too_large", huge.message);
    assert.match(huge.message, /at most 8388608 bytes; this one is 8388609/);
  } finally {
    await mesh.close();
  }
});

Deno.test("a put past the plugin's quota fails with quota_exceeded, counting files agents wrote directly", async () => {
  await using t = await startTestHost();
  const mesh = await connect({ url: t.host.url, token: t.token });
  try {
    await install(mesh, TOOLBOX);
    const { id } = await mesh.agent.create({ plugin: "toolbox" });
    const { dir } = await ask(mesh, id, "dirs") as { dir: string };
    // 60 MiB written straight into the plugin dir, which the agent may write.
    await ask(mesh, id, "writeFile", { path: join(dir, "own.bin"), bytes: 60 * MiB });
    await ask(mesh, id, "put", { key: "small", bytes: 3 * MiB });
    await assert.rejects(
      ask(mesh, id, "put", { key: "more", bytes: 2 * MiB }),
      rejectsWith("quota_exceeded", /storage is full: \d+ of 67108864 bytes used.*delete keys/),
    );
    // Replacing a value counts only the difference.
    await ask(mesh, id, "put", { key: "small", bytes: 4 * MiB - 1 });
    await ask(mesh, id, "delete", { key: "small" });
    await ask(mesh, id, "put", { key: "more", bytes: 2 * MiB });
    assert.deepEqual(await ask(mesh, id, "list"), ["more"]);
  } finally {
    await mesh.close();
  }
});

Deno.test("an agent writes its own scratch dir but not another's, and scratch is wiped when the host restarts", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "roam-scratch-" });
  try {
    let scratchFile: string;
    let id: string;
    {
      await using t = await startTestHost({ dataDir });
      const mesh = await connect({ url: t.host.url, token: t.token });
      try {
        await install(mesh, TOOLBOX);
        id = (await mesh.agent.create({ plugin: "toolbox" })).id;
        const { id: other } = await mesh.agent.create({ plugin: "toolbox" });
        const mine = await ask(mesh, id, "dirs") as { scratchDir: string; dir: string };
        const theirs = await ask(mesh, other, "dirs") as { scratchDir: string };
        assert.equal(mine.scratchDir, join(dataDir, "agents", "scratch", id));
        scratchFile = join(mine.scratchDir, "notes.txt");
        await ask(mesh, id, "writeText", { path: scratchFile, text: "scratch" });
        assert.equal(await ask(mesh, id, "readText", { path: scratchFile }), "scratch");
        assert.equal(await Deno.readTextFile(scratchFile), "scratch");

        await assert.rejects(
          ask(mesh, id, "writeText", { path: join(theirs.scratchDir, "x.txt"), text: "no" }),
          rejectsWith("forbidden", /NotCapable/),
        );
        await assert.rejects(
          ask(mesh, id, "readText", { path: join(dataDir, "roam.db") }),
          rejectsWith("forbidden"),
        );
        await ask(mesh, id, "writeText", { path: join(mine.dir, "kept.txt"), text: "kept" });
        await ask(mesh, id, "put", { key: "kept", text: "kept" });
      } finally {
        await mesh.close();
      }
    }
    await using t = await startTestHost({ dataDir });
    const mesh = await connect({ url: t.host.url, token: t.token });
    try {
      // The agent was restored (it was running at the stop), with an empty scratch dir.
      assert.equal((await mesh.agent.get({ id })).status, "active");
      await assert.rejects(Deno.stat(scratchFile), Deno.errors.NotFound);
      await assert.rejects(ask(mesh, id, "readText", { path: scratchFile }), /NotFound/);
      const { dir } = await ask(mesh, id, "dirs") as { dir: string };
      assert.equal(await ask(mesh, id, "readText", { path: join(dir, "kept.txt") }), "kept");
      assert.equal(await ask(mesh, id, "get", { key: "kept" }), "kept");
    } finally {
      await mesh.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
