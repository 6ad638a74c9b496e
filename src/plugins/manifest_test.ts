import assert from "node:assert/strict";
import { isRoamError } from "../errors/mod.ts";
import { compareVersions, parseManifest } from "./manifest.ts";

const minimal = {
  name: "echo",
  version: "1.0.0",
  kind: "agent",
  entry: "echo.ts",
  description: "",
};

Deno.test("a minimal manifest gets its defaults", () => {
  assert.deepEqual(parseManifest(minimal, "test"), {
    ...minimal,
    permissions: { read: [], write: [], net: [], env: [] },
    resources: { memoryMb: 256 },
    isolation: "process",
  });
});

Deno.test("manifest errors say where the manifest came from, the field and the problem", () => {
  assert.throws(
    () => parseManifest({ ...minimal, version: "1.0" }, "plugin.json at /p/plugin.json"),
    (e) =>
      isRoamError(e, "invalid_input") &&
      /^plugin\.json at \/p\/plugin\.json: version: must be a semantic version/.test(e.message) &&
      Array.isArray(e.data.issues),
  );
  assert.throws(
    () => parseManifest({ ...minimal, name: "Echo", kind: "tool" }, "here"),
    (e) => isRoamError(e) && /^here: name: .* \(and 1 more\)$/.test(e.message),
  );
});

Deno.test("versions order by semver: numbers numerically, a pre-release before its release", () => {
  const sorted = ["1.10.0", "1.2.0", "2.0.0-rc.1", "2.0.0", "2.0.0-alpha", "2.0.0-rc.10", "0.9.9"]
    .sort(compareVersions);
  assert.deepEqual(sorted, [
    "0.9.9",
    "1.2.0",
    "1.10.0",
    "2.0.0-alpha",
    "2.0.0-rc.1",
    "2.0.0-rc.10",
    "2.0.0",
  ]);
  assert.equal(compareVersions("1.0.0-1", "1.0.0-alpha"), -1);
  assert.equal(compareVersions("1.0.0-alpha", "1.0.0-alpha.1"), -1);
  assert.equal(compareVersions("3.1.4", "3.1.4"), 0);
  assert.throws(() => compareVersions("1.0", "1.0.0"), TypeError);
});
