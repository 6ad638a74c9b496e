import assert from "node:assert/strict";
import { join } from "node:path";
import { isRoamError } from "../errors/mod.ts";
import { EventLog, openStore } from "../store/mod.ts";
import { KeyPins } from "./keys.ts";

Deno.test("the first key seen is pinned; another, or none, is refused until accepted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "roam-keys-" });
  const db = openStore({ path: join(dir, "roam.db") });
  try {
    const events = new EventLog(db);
    const pins = new KeyPins(db, events);
    const url = "https://example.org/index.json";
    pins.check(url, undefined); // unsigned, nothing pinned: fine, nothing pinned
    assert.equal(pins.get(url), undefined);
    pins.check(url, "ed25519:A");
    assert.equal(pins.get(url), "ed25519:A");
    pins.check(url, "ed25519:A");
    assert.throws(() => pins.check(url, "ed25519:B"), (e) => isRoamError(e, "forbidden"));
    assert.throws(() => pins.check(url, undefined), /is not signed/);
    pins.check(url, "ed25519:B", { acceptNewKey: true });
    assert.equal(pins.get(url), "ed25519:B");
    pins.check(url, undefined, { acceptNewKey: true });
    assert.equal(pins.get(url), undefined);
    const types = events.since({ since: 0, limit: 10 }).map((e) => e.type);
    assert.deepEqual(types, [
      "registry.key_pinned",
      "registry.key_changed",
      "registry.key_changed",
    ]);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
