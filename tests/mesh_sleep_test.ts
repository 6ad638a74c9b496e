// A laptop that sleeps and wakes: a host frozen (SIGSTOP, with its agent
// runners) until the rest of the mesh declares it dead, then thawed
// (SIGCONT). It must be alive everywhere again within a few seconds, without
// flapping, with its agents exactly where they were: none lost, none
// duplicated, none taken over by the hosts that thought it dead. Real
// `roam host --bind auto` processes, each in its own network namespace on a
// private bridge (tests/support/netns.ts); skipped where namespaces cannot be made.
import assert from "node:assert/strict";
import { packPlugin } from "../src/plugins/mod.ts";
import { LanHost, until, writeSecret } from "./mesh_support.ts";
import { childrenOf } from "./support/agents.ts";
import { canUseLan, createLan } from "./support/netns.ts";

const lanCheck = await canUseLan();
if (!lanCheck.ok) console.log(`mesh_sleep_test: skipping the multi-host test: ${lanCheck.why}`);

const LIFECYCLE = new URL("./fixtures/agents", import.meta.url).pathname;
const QUEUED = 20;

type Member = { id: string; name: string; state: string; epoch: number; incarnation: number };
type Agent = { id: string; plugin: string; status: string; queued: number };
type Event = { type: string; subject: string | null; data: Record<string, unknown> };

async function lifecycle(): Promise<{ manifest: Record<string, unknown>; code: string }> {
  const out = await Deno.makeTempDir({ prefix: "roam-pack-" });
  try {
    const packed = await packPlugin(LIFECYCLE, { outDir: out });
    return { manifest: packed.manifest, code: await Deno.readTextFile(packed.bundlePath) };
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

/** `pid` and every process below it (a host and its agent runners). */
function processTree(pid: number): number[] {
  return [pid, ...childrenOf(pid).flatMap(processTree)];
}

async function member(viewer: LanHost, name: string): Promise<Member | undefined> {
  const { hosts } = await viewer.call<{ hosts: Member[] }>("mesh.hosts");
  return hosts.find((h) => h.name === name);
}

async function stateOf(viewers: LanHost[], name: string): Promise<string> {
  const out: string[] = [];
  for (const v of viewers) {
    const m = await member(v, name).catch((e) => ({ state: (e as Error).message }));
    out.push(`${v.options.name} sees ${name} ${m?.state}`);
  }
  return out.join("; ");
}

async function everySees(viewers: LanHost[], name: string, state: string): Promise<boolean> {
  for (const v of viewers) {
    if ((await member(v, name))?.state !== state) return false;
  }
  return true;
}

async function events(host: LanHost, types: string[]): Promise<Event[]> {
  const { events } = await host.call<{ events: Event[] }>("events.since", {
    since: 0,
    limit: 1000,
    types,
  });
  return events;
}

async function agentsOn(host: LanHost): Promise<Agent[]> {
  return (await host.call<{ agents: Agent[] }>("agent.list")).agents;
}

Deno.test({
  name:
    "a host that sleeps (SIGSTOP) until the mesh declares it dead wakes (SIGCONT) alive everywhere within seconds, without flapping, its agents exactly once and its sleeping agent's queue intact",
  ignore: !lanCheck.ok,
  async fn(t) {
    await using lan = await createLan(3);
    const secretFile = await writeSecret(`${lan.dir}/secret`);
    const hosts = ["a", "b", "laptop"].map((name, i) => new LanHost(lan, i, { name, secretFile }));
    const [a, b, laptop] = hosts;
    const others = [a, b];
    let frozen: number[] = [];
    try {
      await Promise.all(hosts.map((h) => h.start()));
      await until(
        async () => {
          for (const h of hosts) {
            for (const name of ["a", "b", "laptop"]) {
              if ((await member(h, name))?.state !== "alive") return false;
            }
          }
          return true;
        },
        10_000,
        async () => (await Promise.all(hosts.map((h) => h.states())).then(JSON.stringify)),
      );

      // Two agents on the laptop: one awake, one asleep with messages waiting for it.
      await laptop.call("plugin.add", await lifecycle());
      const { id: awake } = await laptop.call<{ id: string }>("agent.create", {
        plugin: "lifecycle",
      });
      const { id: asleep } = await laptop.call<{ id: string }>("agent.create", {
        plugin: "lifecycle",
      });
      const send = (id: string, kind: string, args?: unknown) =>
        laptop.call<{ status: string; reply?: unknown; position?: number }>("agent.send", {
          id,
          kind,
          args,
        });
      assert.equal((await send(awake, "increment")).reply, 1);
      await laptop.call("agent.deactivate", {
        id: asleep,
        activateOnMessage: false,
        queueWhenInactive: true,
      });
      for (let i = 0; i < QUEUED; i++) {
        const outcome = await send(asleep, "record", i);
        assert.equal(outcome.status, "queued");
        assert.equal(outcome.position, i + 1);
      }
      for (const h of others) assert.deepEqual(await agentsOn(h), [], h.options.name);
      const before = await member(a, "laptop");

      let deadMs = 0;
      await t.step("frozen, the laptop is declared dead by the others", async () => {
        frozen = processTree(laptop.child!.pid);
        console.log(`  frozen: ${frozen.length} processes`);
        for (const pid of frozen) Deno.kill(pid, "SIGSTOP");
        deadMs = await until(
          () => everySees(others, "laptop", "dead"),
          8_000,
          () => stateOf(others, "laptop"),
        );
        console.log(
          `  sleep: a and b declared the laptop dead ${deadMs.toFixed(0)} ms after SIGSTOP`,
        );
        for (const h of others) {
          const dead = (await events(h, ["mesh.dead"])).filter((e) => e.data.name === "laptop");
          assert.equal(dead.length, 1, `${h.options.name}: ${JSON.stringify(dead)}`);
        }
      });

      await t.step("while it is dead, nobody lists or takes over its agents", async () => {
        // Stay dead for a while, as a sleeping laptop would, looking all along.
        const end = performance.now() + 1_500;
        while (performance.now() < end) {
          for (const h of others) {
            assert.deepEqual(await agentsOn(h), [], `${h.options.name} lists agents`);
            assert.equal((await member(h, "laptop"))?.state, "dead");
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        for (const h of others) {
          assert.deepEqual(await events(h, ["agent."]), [], `${h.options.name} agent events`);
        }
      });

      let wokeAt = 0;
      await t.step("woken, it is alive again on the others within a few seconds", async () => {
        wokeAt = performance.now();
        for (const pid of [...frozen].reverse()) Deno.kill(pid, "SIGCONT");
        frozen = [];
        const ms = await until(
          () => everySees(others, "laptop", "alive"),
          5_000,
          () => stateOf(others, "laptop"),
        );
        const after = (await member(a, "laptop"))!;
        console.log(
          `  wake: a and b saw the laptop alive again ${ms.toFixed(0)} ms after SIGCONT ` +
            `(epoch ${before!.epoch} -> ${after.epoch}, incarnation ${
              before!.incarnation
            } -> ${after.incarnation})`,
        );
        // The same run of the host: it refuted with a higher incarnation, not a new epoch.
        assert.equal(after.epoch, before!.epoch);
        assert.ok(after.incarnation > before!.incarnation, JSON.stringify(after));
        for (const h of others) {
          const seen = (await events(h, ["mesh."])).filter((e) => e.data.name === "laptop");
          assert.equal(seen.at(-1)?.type, "mesh.joined", JSON.stringify(seen));
        }
        // The laptop sees the others alive, whatever it thought of them on waking.
        await until(
          async () =>
            (await everySees([laptop], "a", "alive")) && everySees([laptop], "b", "alive"),
          3_000,
          async () => JSON.stringify(await laptop.states()),
        );
      });

      await t.step("no flapping afterwards", async () => {
        // Flapping is a host going dead (or rejoining) again. A passing suspicion,
        // refuted, is not one; it is reported rather than failed, since the other
        // tests of the suite may be loading the machine meanwhile.
        const seen = () => Promise.all(hosts.map((h) => events(h, ["mesh."])));
        const settled = await seen();
        const end = performance.now() + 2_500;
        while (performance.now() < end) {
          for (const h of hosts) {
            const states = await h.states();
            const down = Object.entries(states).filter(([, s]) => s === "dead" || s === "left");
            assert.deepEqual(
              down,
              [],
              `${h.options.name} at ${(performance.now() - wokeAt).toFixed(0)} ms after waking`,
            );
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        const later = (await seen()).flatMap((list, i) =>
          list.slice(settled[i].length).map((e) =>
            `${hosts[i].options.name}: ${e.type} ${e.data.name}`
          )
        );
        const flaps = later.filter((e) => !/mesh\.(suspect|updated) /.test(e));
        assert.deepEqual(flaps, [], "hosts went down or rejoined after the laptop was back");
        await until(
          async () => {
            for (const h of hosts) {
              const states = await h.states();
              if (Object.values(states).some((s) => s !== "alive")) return false;
            }
            return true;
          },
          3_000,
          async () => JSON.stringify(await Promise.all(hosts.map((h) => h.states()))),
        );
        const onWaking = (await events(laptop, ["mesh.suspect", "mesh.dead"])).map((e) =>
          `${e.type} ${e.data.name}`
        );
        console.log(
          `  after waking, the laptop ${
            onWaking.length ? `reported ${onWaking.join(", ")}` : "suspected nobody"
          }; in the next 2.5 s: ${later.length ? later.join(", ") : "no mesh events anywhere"}`,
        );
        const deadOnLaptop = (await events(laptop, ["mesh.dead"])).map((e) => e.data.name);
        assert.deepEqual(deadOnLaptop, [], "the laptop declared a host dead");
      });

      await t.step("its agents are all there exactly once, and nowhere else", async () => {
        const mine = await agentsOn(laptop);
        assert.deepEqual(
          mine.map((x) => [x.id, x.status, x.queued]).sort(),
          [[awake, "active", 0], [asleep, "inactive", QUEUED]].sort(),
        );
        for (const h of others) {
          assert.deepEqual(await agentsOn(h), [], `${h.options.name} lists agents`);
          assert.deepEqual(await events(h, ["agent."]), [], `${h.options.name} agent events`);
        }
        // The awake one answers, with the state it had before the sleep.
        assert.equal((await send(awake, "increment")).reply, 2);
        // The sleeping one wakes with its queue intact: every message once, in order.
        await laptop.call("agent.activate", { id: asleep });
        const hooks = (await send(asleep, "hooks")).reply as string[];
        const records = hooks.filter((h) => h.startsWith("record:")).map((h) => Number(h.slice(7)));
        assert.deepEqual(records, Array.from({ length: QUEUED }, (_, i) => i));
        const { queued } = await laptop.call<Agent>("agent.get", { id: asleep });
        assert.equal(queued, 0);
        assert.equal((await agentsOn(laptop)).length, 2);
      });
    } finally {
      for (const pid of frozen) {
        try {
          Deno.kill(pid, "SIGCONT");
        } catch { /* gone */ }
      }
      for (const h of hosts) await h.stop("SIGKILL").catch(() => {});
    }
  },
});
