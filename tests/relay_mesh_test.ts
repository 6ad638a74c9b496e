// A host that accepts no connection (it listens on its own loopback only)
// joins the mesh through a relay hub: its gossip travels its relay
// connection, so the other hosts see it alive at its relay URL, dispatch an
// agent to it by name, mark it dead within 5 s of a kill -9, and see it
// rejoin. Real `roam host` processes in network namespaces; skipped (with
// the reason printed) where namespaces cannot be made.
import assert from "node:assert/strict";
import { packPlugin } from "../src/plugins/mod.ts";
import { HOST_PORT, LanHost, until, writeSecret } from "./mesh_support.ts";
import { canUseLan, createLan } from "./support/netns.ts";

const lanCheck = await canUseLan();
if (!lanCheck.ok) console.log(`relay_mesh_test: skipping: ${lanCheck.why}`);

const HELLO = new URL("../plugins/hello", import.meta.url).pathname;

type MeshHosts = { hosts: { id: string; name: string; url: string; state: string }[] };

async function hello(): Promise<{ manifest: Record<string, unknown>; code: string }> {
  const out = await Deno.makeTempDir({ prefix: "roam-pack-" });
  try {
    const packed = await packPlugin(HELLO, { outDir: out });
    return { manifest: packed.manifest, code: await Deno.readTextFile(packed.bundlePath) };
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

/** How `host` sees the host named `name` now (undefined: unknown). */
async function seen(host: LanHost, name: string) {
  const { hosts } = await host.call<MeshHosts>("mesh.hosts");
  return hosts.find((h) => h.name === name);
}

Deno.test({
  name:
    "a host that accepts no connection is a live mesh member through its relay: found at its relay URL, reached by name, dead within 5 s of kill -9, back after a restart",
  ignore: !lanCheck.ok,
  async fn() {
    await using lan = await createLan(3);
    const secretFile = await writeSecret(`${lan.dir}/secret`);
    const hub = new LanHost(lan, 0, { name: "hub", secretFile });
    const b = new LanHost(lan, 1, { name: "b", secretFile });
    // Listening on its own loopback only: nobody can connect to it, not even by UDP.
    const nat = new LanHost(lan, 2, {
      name: "nat",
      secretFile,
      args: ["--bind", "127.0.0.1", "--relay", `http://${lan.address(0)}:${HOST_PORT}`],
    });
    await Promise.all([hub.start(), b.start()]);
    await nat.start();
    const natId = (await nat.call<{ id: string }>("host.info")).id;
    const relayUrl = `http://${lan.address(0)}:${HOST_PORT}/relay/${natId}`;

    // b learns it by gossip and sees it alive at its relay URL; it sees b and the hub.
    await until(
      async () => (await seen(b, "nat"))?.state === "alive",
      10_000,
      async () => JSON.stringify(await b.call("mesh.hosts")),
    );
    assert.equal((await seen(b, "nat"))?.url, relayUrl);
    await until(
      async () =>
        (await seen(nat, "b"))?.state === "alive" && (await seen(nat, "hub"))?.state === "alive",
      10_000,
      async () => JSON.stringify(await nat.call("mesh.hosts")),
    );
    // It may learn the members over HTTP (joining through the hub) first; gossip follows.
    type Stats = { packets: { accepted: number; sent: number } };
    await until(
      async () => {
        const { packets } = await nat.call<Stats>("mesh.stats");
        return packets.accepted > 0 && packets.sent > 0;
      },
      10_000,
      async () => JSON.stringify(await nat.call("mesh.stats")),
    );

    // An agent dispatched to it by name goes through the hub and runs there.
    await b.call("plugin.add", await hello());
    const { id } = await b.call<{ id: string }>("agent.create", { plugin: "hello" });
    await b.call("agent.send", { id, kind: "increment" });
    await b.call("agent.dispatch", { id, to: "nat" });
    await until(
      async () =>
        (await nat.call<{ agents: { id: string; status: string }[] }>("agent.list")).agents
          .some((a) => a.id === id && a.status === "active"),
      10_000,
      () => nat.output,
    );
    const counted = await nat.call<{ reply: number }>("agent.send", { id, kind: "increment" });
    assert.equal(counted.reply, 2);

    // kill -9: the others find it dead within 5 s, through the hub's gossip port.
    await nat.stop("SIGKILL");
    const took = await until(
      async () => (await seen(b, "nat"))?.state === "dead",
      5_000,
      async () => JSON.stringify(await b.call("mesh.hosts")),
    );
    console.log(
      `relay_mesh_test: a relayed host killed -9 was dead on b after ${Math.round(took)} ms`,
    );

    // Restarted, it rejoins with the same relay URL.
    await nat.start();
    await until(
      async () => (await seen(b, "nat"))?.state === "alive",
      10_000,
      async () => JSON.stringify(await b.call("mesh.hosts")),
    );
    assert.equal((await seen(b, "nat"))?.url, relayUrl);
    await Promise.all([nat.stop(), b.stop(), hub.stop()]);
  },
});
