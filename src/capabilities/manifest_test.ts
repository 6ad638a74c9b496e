import assert from "node:assert/strict";
import { RoamError } from "../errors/mod.ts";
import { parseCapabilityManifest } from "./manifest.ts";

const base = { name: "x", version: "1.0.0", kind: "capability", entry: "worker.py" };

Deno.test("a capability manifest gets its defaults", () => {
  const m = parseCapabilityManifest({ ...base, environment: { type: "system" } }, "test");
  assert.deepEqual(m.environment, { type: "system", python: "python3" });
  assert.deepEqual(m.resources, { ramMb: 256, vramMb: 0, gpu: false });
  assert.equal(m.concurrency, 1);
  assert.equal(m.idleMs, 300_000);
  const deno = parseCapabilityManifest(
    { ...base, entry: "w.ts", environment: { type: "deno" } },
    "test",
  );
  assert.deepEqual(deno.environment.type === "deno" && deno.environment.permissions.net, []);
  const conda = parseCapabilityManifest({ ...base, environment: { type: "conda" } }, "test");
  assert.deepEqual(conda.environment, { type: "conda", file: "environment.yml" });
});

Deno.test("a capability manifest is refused with where and why", () => {
  const cases: [unknown, RegExp][] = [
    [{ ...base, kind: "agent", environment: { type: "system" } }, /kind/],
    [{ ...base, environment: { type: "docker" } }, /environment/],
    [
      { ...base, entry: "../w.py", environment: { type: "system" } },
      /entry.*inside the plugin dir/,
    ],
    [{ ...base, entry: "w.ts", environment: { type: "system" } }, /entry.*\.py/],
    [{ ...base, entry: "w.py", environment: { type: "deno" } }, /entry.*\.ts/],
    [{ ...base, name: "Bad Name", environment: { type: "system" } }, /name/],
    [{
      ...base,
      environment: { type: "deno", permissions: { all: true } },
    }, /environment/],
  ];
  for (const [value, pattern] of cases) {
    assert.throws(
      () => parseCapabilityManifest(value, "plugin.json"),
      (e: unknown) =>
        e instanceof RoamError && e.code === "invalid_input" && pattern.test(e.message),
      JSON.stringify(value),
    );
  }
});
