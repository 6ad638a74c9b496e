import assert from "node:assert/strict";
import { join } from "node:path";
import { main as buildMain } from "../scripts/build_registry.ts";
import {
  extractArchive,
  generateSigningKey,
  parseIndex,
  verifyIndex,
} from "../src/registry/mod.ts";
import { buildRegistry } from "../src/registry/mod.ts";

const FIXTURES = new URL("./fixtures/registry", import.meta.url).pathname;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "roam-build-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("registry/ is what scripts/build_registry.ts makes from plugins/ (run it after changing a plugin)", async () => {
  assert.equal(
    await buildMain(["--check"]),
    0,
    "registry/ is out of date: run deno run -A scripts/build_registry.ts",
  );
});

Deno.test("the builder archives a capability dir as it is, deterministically, and --check sees a change", async () => {
  await withDir(async (dir) => {
    const plugins = join(dir, "plugins");
    await Deno.mkdir(plugins);
    await Deno.mkdir(join(plugins, "echo-cap"));
    for (const rel of ["plugin.json", "worker.py", "lib/helper.py"]) {
      await Deno.mkdir(join(plugins, "echo-cap", rel, ".."), { recursive: true });
      await Deno.copyFile(join(FIXTURES, "echo-cap", rel), join(plugins, "echo-cap", rel));
    }
    // Caches and dot files stay out of the archive.
    await Deno.mkdir(join(plugins, "echo-cap", "__pycache__"));
    await Deno.writeTextFile(join(plugins, "echo-cap", "__pycache__", "x.pyc"), "cache");
    await Deno.writeTextFile(join(plugins, "echo-cap", ".env"), "SECRET=1");

    const out = join(dir, "registry");
    const first = await buildRegistry({ pluginsDir: plugins, outDir: out });
    const index = parseIndex(await Deno.readFile(join(out, "index.json")), "test");
    assert.equal(index.plugins.length, 1);
    const [plugin] = index.plugins;
    assert.deepEqual([plugin.name, plugin.kind], ["echo-cap", "capability"]);
    assert.deepEqual(plugin.versions[0].environment, { type: "system" });
    assert.deepEqual(plugin.versions[0].resources, { memoryMb: 64 });
    assert.equal(plugin.versions[0].archive.url, "archives/echo-cap-0.1.0.tar.gz");

    const unpacked = join(dir, "unpacked");
    await Deno.mkdir(unpacked);
    const files = await extractArchive(join(out, plugin.versions[0].archive.url), unpacked);
    assert.deepEqual(files.sort(), ["lib/helper.py", "plugin.json", "worker.py"]);

    // Same input, same bytes.
    const again = await buildRegistry({ pluginsDir: plugins, outDir: join(dir, "again") });
    assert.deepEqual(again.indexBytes, first.indexBytes);
    assert.deepEqual(
      (await buildRegistry({ pluginsDir: plugins, outDir: out, check: true })).problems,
      [],
    );

    await Deno.writeTextFile(join(plugins, "echo-cap", "worker.py"), "print('changed')\n");
    const stale = await buildRegistry({ pluginsDir: plugins, outDir: out, check: true });
    assert.equal(stale.problems.length, 2, stale.problems.join("\n"));
    assert.match(stale.problems.join("\n"), /index\.json is out of date/);
  });
});

Deno.test("--sign writes a detached signature of the exact index bytes", async () => {
  await withDir(async (dir) => {
    const key = generateSigningKey();
    await Deno.writeTextFile(join(dir, "key.pem"), key.privatePem);
    const out = join(dir, "registry");
    const code = await buildMain([
      "--plugins",
      FIXTURES,
      "--out",
      out,
      "--sign",
      join(dir, "key.pem"),
    ]);
    assert.equal(code, 0);
    const signer = verifyIndex(
      await Deno.readFile(join(out, "index.json")),
      await Deno.readFile(join(out, "index.json.sig")),
      "test",
    );
    assert.equal(signer, key.publicKey);
    assert.equal(await buildMain(["--plugins", FIXTURES, "--out", out, "--check"]), 0);
    assert.equal(await buildMain(["--bogus"]), 2);
  });
});
