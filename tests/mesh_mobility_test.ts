// Agents moving through a mesh of real `roam host --bind auto` processes,
// each in its own network namespace on a private bridge
// (tests/support/netns.ts), addressed by the names the mesh knows them by.
// Where namespaces cannot be made, the test is skipped.
import assert from "node:assert/strict";
import { packPlugin } from "../src/plugins/mod.ts";
import { LanHost, until, writeSecret } from "./mesh_support.ts";
import { canUseLan, createLan } from "./support/netns.ts";

const lanCheck = await canUseLan();
if (!lanCheck.ok) console.log(`mesh_mobility_test: skipping the multi-host tests: ${lanCheck.why}`);

const TOURIST = new URL("./fixtures/plugins/tourist", import.meta.url).pathname;
const FAULTY = new URL("./fixtures/mobility_host.ts", import.meta.url).pathname;

type Agents = { agents: { id: string; status: string }[] };
type Stop = { to: string; ok: boolean; value?: { host: string } };
type Event = { type: string; subject: string | null };

async function tourist(): Promise<{ manifest: Record<string, unknown>; code: string }> {
  const out = await Deno.makeTempDir({ prefix: "roam-pack-" });
  try {
    const packed = await packPlugin(TOURIST, { outDir: out });
    return { manifest: packed.manifest, code: await Deno.readTextFile(packed.bundlePath) };
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

/** Where agent `id` is: the names of the hosts holding a record of it, and of those running it. */
async function whereIs(hosts: LanHost[], id: string) {
  const held: string[] = [];
  const running: string[] = [];
  for (const h of hosts) {
    const { agents } = await h.call<Agents>("agent.list");
    for (const a of agents.filter((a) => a.id === id)) {
      held.push(h.options.name);
      if (a.status === "active") running.push(h.options.name);
    }
  }
  return { held, running };
}

async function reply<T>(host: LanHost, id: string, kind: string, args?: unknown): Promise<T> {
  const out = await host.call<{ status: string; reply: T }>("agent.send", { id, kind, args });
  assert.equal(out.status, "replied");
  return out.reply;
}

Deno.test({
  name:
    "agents move through a mesh of four hosts by name: placement by tag, a target killed mid-transfer leaves the agent exactly once, a tour of every host comes home with each stop",
  ignore: !lanCheck.ok,
  async fn(t) {
    await using lan = await createLan(4);
    const secretFile = await writeSecret(`${lan.dir}/secret`);
    const hosts = ["h1", "h2", "h3", "h4"].map((name, i) =>
      new LanHost(lan, i, {
        name,
        secretFile,
        args: name === "h3" ? ["--tag", "lab"] : [],
        // h2 dies after storing the first agent sent to it, before acknowledging.
        entry: name === "h2" ? FAULTY : undefined,
      })
    );
    const [h1, h2, h3] = hosts;
    const names = hosts.map((h) => h.options.name);

    await Promise.all(hosts.map((h) => h.start()));
    // Every host alive everywhere, with its record (tags) fetched.
    await until(
      async () => {
        for (const h of hosts) {
          const { hosts: seen } = await h.call<
            { hosts: { state: string; version: string | null }[] }
          >(
            "mesh.hosts",
          );
          if (seen.filter((s) => s.state === "alive" && s.version !== null).length !== 4) {
            return false;
          }
        }
        return true;
      },
      10_000,
      () => "the four hosts did not all see each other",
    );
    await h1.call("plugin.add", await tourist());

    await t.step("placement by tag creates the agent on the tagged host", async () => {
      const placed = await h1.call<{ id: string; host: { name: string } }>("agent.create", {
        plugin: "tourist",
        to: { tags: ["lab"] },
      });
      assert.equal(placed.host.name, "h3");
      assert.equal(await reply(h3, placed.id, "where"), "h3");
      await assert.rejects(
        h1.call("agent.create", { plugin: "tourist", to: { tags: ["gpu"] } }),
        /no host matches \{tags gpu\}: .*h3 lacks the tag gpu/,
      );
    });

    await t.step(
      "a target killed -9 mid-transfer leaves the agent present exactly once",
      async () => {
        const { id } = await h1.call<{ id: string }>("agent.create", { plugin: "tourist" });
        await reply(h1, id, "increment");
        const move = h1.call("agent.dispatch", { id, to: "h2" }, 30_000);
        move.catch(() => {});
        await until(
          () => Promise.resolve(h2.output.includes("fault: stored")),
          10_000,
          () => h2.output,
        );
        await h2.stop("SIGKILL");
        await assert.rejects(move, /unsettled/);
        // In doubt: h1 holds it frozen and does not run it.
        await assert.rejects(
          h1.call("agent.send", { id, kind: "where", timeoutMs: 200 }),
          /is moving to .* did not settle/,
        );

        h2.options.entry = undefined;
        await h2.start();
        // h2 kept the envelope it stored: h1 learns so, drops its copy, and h2 runs it.
        await until(
          async () => {
            const at = await whereIs(hosts, id);
            return at.held.join() === "h2" && at.running.join() === "h2";
          },
          15_000,
          async () => JSON.stringify(await whereIs(hosts, id)),
        );
        assert.equal(await reply(h2, id, "increment"), 2);
        const { events } = await h1.call<{ events: Event[] }>("events.since", {
          since: 0,
          limit: 1000,
          types: ["agent."],
        });
        const mine = events.filter((e) => e.subject === id).map((e) => e.type);
        assert.ok(mine.includes("agent.transfer_in_doubt"), mine.join());
        assert.deepEqual(await whereIs(hosts, id), { held: ["h2"], running: ["h2"] });
      },
    );

    await t.step(
      "an agent tours every host by name and comes home with each stop recorded",
      async () => {
        await until(
          async () => Object.values(await h1.states()).filter((s) => s === "alive").length === 4,
          10_000,
          async () => JSON.stringify(await h1.states()),
        );
        const { hosts: list } = await h1.call<{ hosts: { name: string; state: string }[] }>(
          "mesh.hosts",
          { state: "alive" },
        );
        const stops = list.map((h) => h.name);
        assert.deepEqual([...stops].sort(), names);
        const { id } = await h1.call<{ id: string }>("agent.create", { plugin: "tourist" });
        assert.equal(await reply(h1, id, "tour", stops), "touring");
        await until(
          async () => (await reply<{ phase: string }>(h1, id, "tour-state"))?.phase === "done",
          15_000,
          async () => JSON.stringify(await whereIs(hosts, id)),
        );
        const tour = await reply<{ records: Stop[] }>(h1, id, "tour-state");
        assert.deepEqual(tour.records.map((r) => [r.to, r.ok, r.value?.host]), [
          ...stops.map((name) => [name, true, name]),
        ]);
        assert.deepEqual(await whereIs(hosts, id), { held: ["h1"], running: ["h1"] });
      },
    );
  },
});
