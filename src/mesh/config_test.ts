import assert from "node:assert/strict";
import { isRoamError } from "../errors/mod.ts";
import { MeshConfigSchema, parseMulticastGroup } from "./config.ts";

Deno.test("--multicast-group takes ADDR:PORT (or ADDR) within 224.0.0.0/4", () => {
  assert.deepEqual(parseMulticastGroup("239.1.2.3:9000"), { address: "239.1.2.3", port: 9000 });
  assert.deepEqual(parseMulticastGroup("224.0.0.251"), { address: "224.0.0.251", port: 7421 });
  for (
    const bad of [
      "10.0.0.1:7421",
      "239.1.2.3:0",
      "239.1.2.3:70000",
      "240.0.0.1:1",
      "x",
      "239.1.2:5",
      "239.1.2.3:5:6",
    ]
  ) {
    assert.throws(() => parseMulticastGroup(bad), (e) => isRoamError(e, "invalid_input"), bad);
  }
});

Deno.test("mesh defaults: multicast on 239.255.74.20:7421, dead within about 3.5 s", () => {
  const c = MeshConfigSchema.parse({});
  assert.equal(c.multicast, true);
  assert.deepEqual(c.group, { address: "239.255.74.20", port: 7421 });
  assert.ok(c.probeTimeoutMs + c.suspicionMs + c.probeIntervalMs <= 4_000);
  assert.throws(() => MeshConfigSchema.parse({ peers: ["ftp://x"] }));
});
