import assert from "node:assert/strict";
import { join } from "node:path";
import { CapabilityCatalog } from "./catalog.ts";

async function writePlugin(dir: string, name: string, version: string) {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, "plugin.json"),
    JSON.stringify({
      name,
      version,
      kind: "capability",
      entry: "worker.py",
      environment: { type: "system" },
    }),
  );
  await Deno.writeTextFile(join(dir, "worker.py"), "print('hello')\n");
}

Deno.test("the catalog sees capabilities placed by others, replaced ones, and says why a dir is skipped", async () => {
  const root = await Deno.makeTempDir({ prefix: "roam-catalog-" });
  try {
    const catalog = new CapabilityCatalog(join(root, "capabilities"));
    assert.deepEqual(catalog.list(), []);
    // What the registry does: a dir renamed into place from .staging.
    await writePlugin(join(root, "capabilities", ".staging", "x"), "alpha", "1.0.0");
    await Deno.rename(
      join(root, "capabilities", ".staging", "x"),
      join(root, "capabilities", "alpha"),
    );
    assert.deepEqual(catalog.list().map((c) => c.manifest.version), ["1.0.0"]);
    // Replaced by a new version, placed the same way.
    await writePlugin(join(root, "src2"), "alpha", "2.0.0");
    const added = await catalog.add(join(root, "src2"));
    assert.equal(added.replaced, true);
    assert.equal(catalog.get("alpha")?.manifest.version, "2.0.0");
    // A dir that is not a capability is skipped, and says why.
    await writePlugin(join(root, "capabilities", "beta"), "gamma", "1.0.0");
    await Deno.mkdir(join(root, "capabilities", "empty"));
    assert.deepEqual(catalog.list().map((c) => c.manifest.name), ["alpha"]);
    const problems = catalog.problems();
    assert.match(problems.beta, /names 'gamma', not its dir 'beta'/);
    assert.match(problems.empty, /plugin\.json is missing/);
    // Nothing is left in staging.
    assert.deepEqual([...Deno.readDirSync(join(root, "capabilities", ".staging"))], []);
    assert.equal(await catalog.remove("alpha"), true);
    assert.equal(catalog.get("alpha"), undefined);
    assert.equal(await catalog.remove("alpha"), false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
