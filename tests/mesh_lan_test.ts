// Multi-host mesh tests: real `roam host` processes, each in its own network
// namespace on a private bridge (tests/support/netns.ts). No packet leaves
// those namespaces; where they cannot be made, the tests are skipped.
import assert from "node:assert/strict";
import { HOST_PORT, LanHost, until, writeSecret } from "./mesh_support.ts";
import { canUseLan, createLan, type Lan } from "./support/netns.ts";

const lanCheck = await canUseLan();
if (!lanCheck.ok) console.log(`mesh_lan_test: skipping the multi-host tests: ${lanCheck.why}`);

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ATTACK = new URL("./fixtures/mesh_attack.ts", import.meta.url).pathname;
const GROUP = "239.255.74.20:7421";

type Hosts = {
  name: string;
  state: string;
  url: string;
  incarnation: number;
  version: string | null;
}[];
type Stats = {
  dropped: Record<string, number>;
  packets: Record<string, number>;
  multicast: { active: boolean };
};
type Event = { type: string; subject: string | null; data: Record<string, unknown> };

/** Every host in `viewers` sees exactly `names` in `state` (and no other host in that state). */
async function allSee(viewers: LanHost[], names: string[], state = "alive"): Promise<boolean> {
  for (const viewer of viewers) {
    const states = await viewer.states();
    const inState = Object.entries(states).filter(([, s]) => s === state).map(([n]) => n).sort();
    if (JSON.stringify(inState) !== JSON.stringify([...names].sort())) return false;
  }
  return true;
}

async function views(hosts: LanHost[]): Promise<string> {
  const out: string[] = [];
  for (const h of hosts) {
    out.push(`${h.options.name}: ${JSON.stringify(await h.states().catch((e) => e.message))}`);
  }
  return out.join("\n");
}

async function meshEvents(host: LanHost): Promise<Event[]> {
  const { events } = await host.call<{ events: Event[] }>("events.since", {
    since: 0,
    limit: 1000,
    types: ["mesh."],
  });
  return events;
}

async function burnCpu(lan: Lan, i: number, workers: number, ms: number) {
  const children = Array.from({ length: workers }, () =>
    lan.spawn(i, Deno.execPath(), [
      "eval",
      `const end = Date.now() + ${ms}; while (Date.now() < end) {}`,
    ], { stdout: "null" }));
  await Promise.all(children.map((c) => c.status));
}

Deno.test({
  name:
    "five hosts find each other by multicast alone; a killed host is dead everywhere within 5 s and rejoins; a stalled one refutes; intruders and bad packets are dropped",
  ignore: !lanCheck.ok,
  sanitizeResources: true,
  async fn(t) {
    // Namespaces 0-4: the mesh. 5: a host with another secret. 6: the attacker.
    await using lan = await createLan(7);
    const secret = await writeSecret(`${lan.dir}/secret`);
    const otherSecret = await writeSecret(`${lan.dir}/other-secret`);
    const names = ["h1", "h2", "h3", "h4", "h5"];
    const hosts = names.map((name, i) => new LanHost(lan, i, { name, secretFile: secret }));
    const intruder = new LanHost(lan, 5, {
      name: "intruder",
      secretFile: otherSecret,
      args: ["--peer", hosts[0].url],
    });
    try {
      await t.step("five hosts find each other by multicast within 3 s", async () => {
        await Promise.all([...hosts, intruder].map((h) => h.start()));
        const ms = await until(() => allSee(hosts, names), 3_000, () => views(hosts));
        console.log(
          `  discovery: all 5 hosts saw all 5 alive ${
            ms.toFixed(0)
          } ms after the last one listened`,
        );
        const stats = await hosts[0].call<Stats>("mesh.stats");
        assert.equal(stats.multicast.active, true);
      });

      await t.step("records arrive over HTTP: version and URLs of every host", async () => {
        await until(
          async () => {
            const { hosts: list } = await hosts[2].call<{ hosts: Hosts }>("mesh.hosts");
            return list.every((h) => h.version !== null);
          },
          3_000,
          () => views(hosts),
        );
        const { hosts: list } = await hosts[2].call<{ hosts: Hosts }>("mesh.hosts");
        for (const h of hosts) {
          const entry = list.find((e) => e.name === h.options.name)!;
          assert.equal(entry.url, h.url);
          assert.equal(entry.version, list[0].version);
        }
      });

      await t.step("'roam hosts' prints the table", async () => {
        const out = await lan.run(0, Deno.execPath(), [
          "run",
          "--allow-all",
          "--unstable-net",
          "--unstable-worker-options",
          MAIN,
          "--data-dir",
          hosts[0].dataDir,
          "--host",
          `http://127.0.0.1:${HOST_PORT}`,
          "hosts",
        ]);
        const text = new TextDecoder().decode(out.stdout);
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        const [header, ...rows] = text.trim().split("\n");
        assert.match(header, /^NAME\s+STATE\s+LAST SEEN\s+LOAD\s+FREE RAM\s+GPUS\s+URL$/);
        assert.equal(rows.length, 5, text);
        assert.match(rows[0], /^h1 \(this\)\s+alive\s+now/);
        for (const row of rows) assert.match(row, /alive/);
      });

      await t.step(
        "malformed, oversized, tampered and replayed packets are dropped and counted",
        async () => {
          const before = await Promise.all(hosts.map((h) => h.call<Stats>("mesh.stats")));
          const targets = hosts.map((_, i) => `${lan.address(i)}:${HOST_PORT}`);
          const out = await lan.run(6, Deno.execPath(), [
            "run",
            "--allow-all",
            "--unstable-net",
            ATTACK,
            GROUP,
            secret,
            lan.address(6),
            ...targets,
          ]);
          assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
          const report = JSON.parse(
            new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!,
          );
          await new Promise((r) => setTimeout(r, 200));
          for (const [i, h] of hosts.entries()) {
            const after = await h.call<Stats>("mesh.stats");
            const grew = (reason: string) => after.dropped[reason] - before[i].dropped[reason];
            const name = h.options.name;
            assert.ok(
              grew("malformed") >= 2,
              `${name} malformed: ${JSON.stringify(after.dropped)}`,
            );
            assert.ok(
              grew("oversized") >= 1,
              `${name} oversized: ${JSON.stringify(after.dropped)}`,
            );
            assert.ok(grew("version") >= 1, `${name} version: ${JSON.stringify(after.dropped)}`);
            assert.ok(grew("auth") >= 1, `${name} auth: ${JSON.stringify(after.dropped)}`);
            // The host that sent the captured packet takes the copies for its own echo.
            if (name !== report.sender) {
              assert.ok(
                grew("replayed") >= 3,
                `${name} replayed: ${JSON.stringify(after.dropped)}`,
              );
            }
          }
          assert.ok(await allSee(hosts, names), await views(hosts));
        },
      );

      await t.step("a host with the wrong secret is never listed", async () => {
        for (const h of hosts) {
          const states = await h.states();
          assert.equal(states.intruder, undefined, `${h.options.name} lists the intruder`);
          const stats = await h.call<Stats>("mesh.stats");
          assert.ok(stats.dropped.unknownKey > 0, `${h.options.name}: ${JSON.stringify(stats)}`);
          const joined = (await meshEvents(h)).filter((e) => e.data.name === "intruder");
          assert.deepEqual(joined, []);
        }
        assert.deepEqual(Object.keys(await intruder.states()), ["intruder"]);
        assert.match(intruder.output, /cannot join the mesh through .*different mesh secret/);
      });

      await t.step("a host stalled for 2 s is suspected at most, never declared dead", async () => {
        const stalled = hosts[2];
        stalled.child!.kill("SIGSTOP");
        await new Promise((r) => setTimeout(r, 2_000));
        stalled.child!.kill("SIGCONT");
        await until(() => allSee(hosts, names), 3_000, () => views(hosts));
        const suspected: string[] = [];
        for (const h of hosts) {
          const events = await meshEvents(h);
          const dead = events.filter((e) => e.type === "mesh.dead");
          assert.deepEqual(dead, [], `${h.options.name} declared a host dead`);
          if (events.some((e) => e.type === "mesh.suspect")) suspected.push(h.options.name);
        }
        console.log(
          `  2 s stall: ${
            suspected.length
              ? `suspected by ${suspected.join(", ")}, then refuted`
              : "never suspected"
          }; declared dead by nobody`,
        );
      });

      await t.step("under CPU load no host is declared dead", async () => {
        const seen = async () => (await Promise.all(hosts.map(meshEvents))).flat();
        const before = (await seen()).length;
        const cores = navigator.hardwareConcurrency;
        const started = performance.now();
        await burnCpu(lan, 0, 2 * cores, 4_000);
        const during = (await seen()).slice(before);
        const suspected = during.filter((e) => e.type === "mesh.suspect").length;
        console.log(
          `  CPU load (${2 * cores} busy processes on ${cores} cores for ${
            ((performance.now() - started) / 1000).toFixed(1)
          } s): ${suspected} suspicions (false positives), ${
            during.filter((e) => e.type === "mesh.dead").length
          } declared dead`,
        );
        for (const h of hosts) {
          const dead = (await meshEvents(h)).filter((e) => e.type === "mesh.dead");
          assert.deepEqual(dead, [], h.options.name);
        }
        assert.ok(await allSee(hosts, names), await views(hosts));
      });

      await t.step("after kill -9, every other host marks it dead within 5 s", async () => {
        const others = hosts.slice(0, 4);
        await hosts[4].stop("SIGKILL");
        const ms = await until(() => allSee(others, ["h5"], "dead"), 5_000, () => views(others));
        console.log(
          `  failure detection: all 4 others marked h5 dead ${ms.toFixed(0)} ms after kill -9`,
        );
      });

      await t.step("the killed host rejoins after a restart", async () => {
        await hosts[4].start();
        const ms = await until(() => allSee(hosts, names), 3_000, () => views(hosts));
        console.log(
          `  rejoin: all 5 saw the restarted h5 alive ${ms.toFixed(0)} ms after it listened`,
        );
        const events = await meshEvents(hosts[0]);
        const h5 = events.filter((e) => e.data.name === "h5").map((e) => e.type);
        assert.deepEqual(h5.slice(-3), ["mesh.suspect", "mesh.dead", "mesh.joined"]);
      });

      await t.step(
        "mesh.wait resolves for a live host and times out for an unknown one",
        async () => {
          const found = await hosts[1].call<{ name: string; state: string }>("mesh.wait", {
            host: "h5",
            timeoutMs: 1_000,
          });
          assert.equal(found.state, "alive");
          await assert.rejects(
            () => hosts[1].call("mesh.wait", { host: "nobody", timeoutMs: 100 }),
            /not alive in the mesh after 100 ms/,
          );
        },
      );

      await t.step("a graceful stop is seen as 'left' at once", async () => {
        await hosts[3].stop("SIGTERM");
        const others = [hosts[0], hosts[1], hosts[2], hosts[4]];
        const ms = await until(() => allSee(others, ["h4"], "left"), 1_000, () => views(others));
        console.log(`  leave: all 4 others marked h4 left ${ms.toFixed(0)} ms after it exited`);
      });
    } finally {
      for (const h of [...hosts, intruder]) await h.stop("SIGKILL").catch(() => {});
    }
  },
});

Deno.test({
  name: "two hosts with --no-multicast find each other through --peer",
  ignore: !lanCheck.ok,
  async fn() {
    await using lan = await createLan(2);
    const secret = await writeSecret(`${lan.dir}/secret`);
    const b = new LanHost(lan, 1, { name: "b", secretFile: secret, args: ["--no-multicast"] });
    const a = new LanHost(lan, 0, {
      name: "a",
      secretFile: secret,
      args: ["--no-multicast", "--peer", b.url],
    });
    try {
      await Promise.all([b.start(), a.start()]);
      const ms = await until(() => allSee([a, b], ["a", "b"]), 3_000, () => views([a, b]));
      console.log(`  unicast join through --peer: ${ms.toFixed(0)} ms`);
      for (const h of [a, b]) {
        const stats = await h.call<Stats>("mesh.stats");
        assert.equal(stats.multicast.active, false);
        assert.ok(stats.packets.accepted > 0);
      }
      await b.stop("SIGKILL");
      const dead = await until(() => allSee([a], ["b"], "dead"), 5_000, () => views([a]));
      console.log(
        `  unicast failure detection: a marked b dead ${dead.toFixed(0)} ms after kill -9`,
      );
      await b.start();
      await until(() => allSee([a, b], ["a", "b"]), 3_000, () => views([a, b]));
    } finally {
      for (const h of [a, b]) await h.stop("SIGKILL").catch(() => {});
    }
  },
});

Deno.test({
  name: "a --bind auto host whose address changes states its new URL across the mesh",
  ignore: !lanCheck.ok,
  async fn() {
    await using lan = await createLan(3);
    const secret = await writeSecret(`${lan.dir}/secret`);
    const hosts = ["m1", "m2", "m3"].map((name, i) =>
      new LanHost(lan, i, { name, secretFile: secret })
    );
    try {
      await Promise.all(hosts.map((h) => h.start()));
      await until(() => allSee(hosts, ["m1", "m2", "m3"]), 3_000, () => views(hosts));
      const old = lan.address(0);
      const moved = old.replace(/\.\d+$/, ".101");
      const sh = async (command: string) => {
        const out = await lan.run(0, "sh", ["-c", command]);
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      };
      // Keep the new address when the old (primary) one goes.
      await sh("echo 1 > /proc/sys/net/ipv4/conf/eth0/promote_secondaries");
      await sh(`ip addr add ${moved}/24 dev eth0 && ip addr del ${old}/24 dev eth0`);
      const movedUrl = `http://${moved}:${HOST_PORT}`;
      // The host looks for new addresses every 5 s.
      const ms = await until(
        async () => {
          for (const viewer of hosts.slice(1)) {
            const { hosts: list } = await viewer.call<{ hosts: Hosts }>("mesh.hosts");
            const m1 = list.find((h) => h.name === "m1");
            if (m1?.url !== movedUrl || m1.state !== "alive" || m1.incarnation < 1) return false;
          }
          return true;
        },
        8_000,
        () => views(hosts),
      );
      console.log(`  re-bind: the others saw m1's new URL ${ms.toFixed(0)} ms after the change`);
      await until(
        async () => {
          const events = await meshEvents(hosts[1]);
          return events.some((e) =>
            e.type === "mesh.updated" && e.data.name === "m1" &&
            JSON.stringify(e.data.urls).includes(movedUrl)
          );
        },
        2_000,
        async () => JSON.stringify(await meshEvents(hosts[1])),
      );
      assert.ok(await allSee(hosts, ["m1", "m2", "m3"]), await views(hosts));
    } finally {
      for (const h of hosts) await h.stop("SIGKILL").catch(() => {});
    }
  },
});
