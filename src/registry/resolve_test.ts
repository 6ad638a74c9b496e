import assert from "node:assert/strict";
import { isRoamError } from "../errors/mod.ts";
import type { IndexPlugin } from "./format.ts";
import { checkRange, heldBack, pickVersion } from "./resolve.ts";

const plugin = (versions: [string, string][]): IndexPlugin => ({
  name: "demo",
  kind: "capability",
  description: "",
  versions: versions.map(([version, minRoam]) => ({
    version,
    minRoam,
    archive: { url: `demo-${version}.tar.gz`, sha256: "0".repeat(64), size: 1 },
    permissions: {},
    resources: {},
  })),
});

Deno.test("the newest version in the range that runs on this roam is picked", () => {
  const p = plugin([["0.1.0", "0.1.0"], ["0.2.0", "0.1.0"], ["1.0.0", "0.1.0"], [
    "1.1.0-rc.1",
    "0.1.0",
  ]]);
  assert.equal(pickVersion(p, "*", "0.1.0").version, "1.0.0");
  assert.equal(pickVersion(p, "^0.1", "0.1.0").version, "0.1.0");
  assert.equal(pickVersion(p, ">=0.1 <1", "0.1.0").version, "0.2.0");
  assert.equal(pickVersion(p, "1.1.0-rc.1", "0.1.0").version, "1.1.0-rc.1");
  assert.throws(() => pickVersion(p, "^2", "0.1.0"), (e) => isRoamError(e, "not_found"));
});

Deno.test("a version that needs a newer roam is passed over, and refused when nothing else fits", () => {
  const p = plugin([["0.1.0", "0.1.0"], ["0.2.0", "9.0.0"]]);
  assert.equal(pickVersion(p, "*", "0.1.0").version, "0.1.0");
  assert.equal(heldBack(p, "*", "0.1.0", "0.1.0")?.version, "0.2.0");
  assert.throws(
    () => pickVersion(p, "0.2.0", "0.1.0"),
    (e) =>
      isRoamError(e, "unsupported") && /needs roam 9\.0\.0 or newer/.test(e.message) &&
      /demo@0\.1\.0/.test(e.message),
  );
});

Deno.test("a range that is not semver is refused", () => {
  assert.throws(() => checkRange("not a range"), (e) => isRoamError(e, "invalid_input"));
});
