// A capability installed from the repository's own registry (registry/, as
// scripts/build_registry.ts builds it) is checked by the capability runtime,
// placed where the runtime finds it, and answers through the job queue;
// removing it through the registry takes it out of the runtime's catalog.
import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import { startTestHost } from "./support/host.ts";

const REGISTRY = new URL("../registry/index.json", import.meta.url).href;

Deno.test("echo-py installs from the file:// registry and answers capability.call", async () => {
  await using t = await startTestHost({ name: "caps" });
  const roam = await connect({ url: t.host.url, token: t.token });
  const installed = await roam.call("registry.install", { name: "echo-py", registry: REGISTRY });
  assert.equal(installed.installed, true);
  const listed = await roam.call("capability.list", {});
  assert.ok(
    JSON.stringify(listed).includes("echo-py"),
    `the runtime lists the installed capability: ${JSON.stringify(listed)}`,
  );
  const called = await roam.call("capability.call", {
    capability: "echo-py",
    method: "echo",
    args: { hello: "registry" },
  });
  assert.deepEqual((called.result as { echo: unknown }).echo, { hello: "registry" });
  // Removing it through the registry stops its worker and takes it out of the catalog.
  await roam.call("registry.remove", { name: "echo-py" });
  const after = await roam.call("capability.list", {});
  assert.ok(!JSON.stringify(after).includes('"echo-py"'), JSON.stringify(after));
});
