import assert from "node:assert/strict";
import { API, connect, ERROR_CODES } from "../mod.ts";
import { DENO_VERSION } from "../src/version.ts";
import { startTestHost } from "./support/host.ts";

Deno.test("rpc.discover lists every declared method with JSON Schemas, and every error code", async () => {
  await using t = await startTestHost();
  const mesh = await connect({ url: t.host.url, token: t.token });
  const discovered = await mesh.rpc.discover();
  assert.deepEqual(discovered.methods.map((m) => m.name).sort(), Object.keys(API).sort());
  for (const method of discovered.methods) {
    assert.equal(method.params.type, "object", `${method.name} params schema`);
    assert.equal(typeof method.result.type, "string", `${method.name} result schema`);
    assert.ok(method.summary.length > 10, `${method.name} has a summary`);
  }
  const health = discovered.methods.find((m) => m.name === "host.health")!;
  assert.equal(health.public, true);
  assert.deepEqual(health.result.required, ["ok", "version"]);
  const since = discovered.methods.find((m) => m.name === "events.since")!;
  assert.deepEqual(since.positional, ["since", "limit"]);
  assert.equal(
    (since.params.properties as Record<string, { maximum?: number }>).limit.maximum,
    1000,
  );
  assert.equal(discovered.methods.find((m) => m.name === "events.subscribe")!.transport, "ws");
  assert.deepEqual(
    Object.fromEntries(discovered.errors.map((e) => [e.code, e.number])),
    ERROR_CODES,
  );
});

Deno.test("the Deno version is pinned to the same release everywhere", async () => {
  const root = new URL("../", import.meta.url);
  const readme = await Deno.readTextFile(new URL("README.md", root));
  const ci = await Deno.readTextFile(new URL(".ci/run", root));
  for (const [name, text] of [["README.md", readme], [".ci/run", ci]]) {
    const pins = [...text.matchAll(/deno@(\d+\.\d+\.\d+)/g)].map((m) => m[1]);
    assert.ok(pins.length > 0, `${name} names no deno@ version`);
    assert.deepEqual(new Set(pins), new Set([DENO_VERSION]), `${name} pins ${pins}`);
  }
  if (Deno.version.deno !== DENO_VERSION) {
    console.log(
      `note: these tests run on Deno ${Deno.version.deno}; roam is pinned to ${DENO_VERSION}`,
    );
  }
});
