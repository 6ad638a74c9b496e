import assert from "node:assert/strict";
import { join } from "node:path";
import { DiagnosticsStore } from "./diagnostics.ts";

Deno.test("diagnostics keep each file under its size and each capability under its total", async () => {
  const root = await Deno.makeTempDir({ prefix: "roam-diag-" });
  try {
    const store = new DiagnosticsStore(root, { maxFileBytes: 2_000, maxBytesPerCapability: 5_000 });
    for (let f = 0; f < 6; f++) {
      const log = store.open("cap", `file-${f}`);
      for (let i = 0; i < 100; i++) log.write("stdout", `line ${i} ${"x".repeat(40)}`);
      log.close();
      // Distinct modification times order the files.
      await new Promise((r) => setTimeout(r, 5));
    }
    const files = [...Deno.readDirSync(join(root, "cap"))];
    const sizes = files.map((f) => Deno.statSync(join(root, "cap", f.name)).size);
    assert.ok(sizes.every((s) => s <= 2_100), `sizes ${sizes}`);
    assert.ok(sizes.reduce((a, b) => a + b, 0) <= 5_000 + 2_100, `total ${sizes}`);
    const [newest] = await store.read("cap", { lines: 3 });
    assert.match(newest.name, /file-5/);
    assert.match(newest.lines.at(-1)!, /later lines are dropped/);
    assert.equal(newest.lines.length, 3);
    assert.deepEqual(await store.read("none"), []);
    assert.throws(() => store.open("../etc", "x"), /not a capability name/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("diagnostics older than the age limit are removed at the next open", async () => {
  const root = await Deno.makeTempDir({ prefix: "roam-diag-" });
  try {
    const store = new DiagnosticsStore(root, { maxAgeMs: 60_000 });
    const old = store.open("cap", "old");
    old.write("stdout", "hello");
    old.close();
    const past = new Date(Date.now() - 120_000);
    await Deno.utime(old.path, past, past);
    store.open("cap", "new").close();
    const names = [...Deno.readDirSync(join(root, "cap"))].map((e) => e.name);
    assert.equal(names.length, 1);
    assert.match(names[0], /new/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
