// The mesh methods of one loopback-only host. Such a host gossips only on
// 127.0.0.1 with its --peers (it has none here) and never sends multicast:
// these tests send no packet at all. Multi-host tests: tests/mesh_lan_test.ts.
import assert from "node:assert/strict";
import { connect } from "../src/client/mod.ts";
import { startTestHost } from "./support/host.ts";

Deno.test("a loopback host lists itself, waits for itself, and never multicasts", async () => {
  await using t = await startTestHost({ name: "solo", tags: ["gpu"], properties: { rack: "3" } });
  const roam = await connect({ url: t.host.url, token: t.token });
  const { hosts } = await roam.mesh.hosts();
  assert.equal(hosts.length, 1);
  const [self] = hosts;
  assert.equal(self.self, true);
  assert.equal(self.id, t.host.id);
  assert.equal(self.name, "solo");
  assert.equal(self.state, "alive");
  assert.equal(self.url, t.host.url);
  assert.deepEqual(self.tags, ["gpu"]);
  assert.deepEqual(self.properties, { rack: "3" });
  assert.equal(self.load?.length, 3);
  assert.ok((self.totalRamMb ?? 0) > 0);
  assert.equal((await roam.mesh.wait({ host: "solo", timeoutMs: 0 })).id, t.host.id);
  await assert.rejects(
    () => roam.mesh.wait({ host: "nobody", timeoutMs: 50 }),
    (e) => (e as { code: string }).code === "timeout",
  );
  const stats = await roam.mesh.stats();
  assert.equal(stats.multicast.active, false);
  assert.deepEqual(stats.multicast.interfaces, []);
  assert.equal(stats.gossip.address, "127.0.0.1");
  assert.equal(stats.packets.sent, 0);
  const record = await roam.mesh.record();
  assert.equal(record.id, t.host.id);
  assert.equal(record.gossipPort, stats.gossip.port);
});

Deno.test("mesh.rotate in two rounds: accept the new secret's key, then seal with it", async () => {
  await using t = await startTestHost({ name: "rotator" });
  const roam = await connect({ url: t.host.url, token: t.token });
  const before = (await roam.mesh.stats()).keys;
  assert.deepEqual(before.previous, null);
  assert.deepEqual(await roam.mesh.rotate(), { changed: false, ...before });
  const hex = [...crypto.getRandomValues(new Uint8Array(32))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  await Deno.writeTextFile(t.host.config.secretFile, hex + "\n");
  const accepted = await roam.mesh.rotate({ phase: "accept" });
  assert.equal(accepted.changed, true);
  assert.equal(accepted.current, before.current, "still sealing with the old key");
  assert.ok(accepted.next && accepted.next !== before.current);
  const used = await roam.mesh.rotate({ phase: "use" });
  assert.deepEqual(used, {
    changed: true,
    current: accepted.next,
    previous: before.current,
    next: null,
  });
  assert.deepEqual((await roam.mesh.stats()).keys, {
    current: used.current,
    previous: used.previous,
    next: null,
  });
});
