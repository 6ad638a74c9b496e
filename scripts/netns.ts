/**
 * A private LAN of network namespaces for trying a mesh by hand (Linux, as
 * root). The same harness the multi-host tests use (tests/support/netns.ts):
 * N namespaces joined by veth pairs to a bridge in its own namespace, with
 * addresses 10.200.X.(i+1)/24 and a multicast route, so nothing reaches the
 * machine's own interfaces.
 *
 *   deno run -A scripts/netns.ts up [N]      make a LAN of N (default 3), keep it until Ctrl-C
 *   deno run -A scripts/netns.ts list        list roam's namespaces on this machine
 *   deno run -A scripts/netns.ts clean --yes remove namespaces left behind by killed test runs
 *
 * @module
 */
import { canUseLan, createLan } from "../tests/support/netns.ts";

const NAME = /^roam-(t|lan)-[0-9a-f]{6}-(\d+|br)$/;

async function roamNamespaces(): Promise<string[]> {
  const out = await new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.split(" ")[0])
    .filter((n) => NAME.test(n));
}

async function up(n: number) {
  const check = await canUseLan();
  if (!check.ok) {
    console.error(`netns: ${check.why}`);
    Deno.exit(1);
  }
  await using lan = await createLan(n, { prefix: "roam-lan" });
  const secret = `${lan.dir}/secret`;
  const hex = [...crypto.getRandomValues(new Uint8Array(32))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  await Deno.writeTextFile(secret, hex + "\n", { mode: 0o600 });
  const main = new URL("../main.ts", import.meta.url).pathname;
  console.log(`LAN ${lan.id}: ${n} namespaces, bridge in ${lan.bridge}, shared secret ${secret}\n`);
  for (const [i, ns] of lan.namespaces.entries()) {
    console.log(`${ns}  ${lan.address(i)}`);
    console.log(
      `  ip netns exec ${ns} deno run -A --unstable-net --unstable-worker-options ${main} \\\n` +
        `    --data-dir ${lan.dir}/h${i + 1} host --bind auto --name h${
          i + 1
        } --secret-file ${secret}`,
    );
  }
  console.log(
    `\nthen, for example: ip netns exec ${
      lan.namespaces[0]
    } deno run -A ${main} --data-dir ${lan.dir}/h1 hosts`,
  );
  console.log("\nCtrl-C removes the LAN and everything running in it.");
  await new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGINT", resolve);
    Deno.addSignalListener("SIGTERM", resolve);
  });
  console.log(`\nremoving ${lan.id}`);
}

async function clean(yes: boolean) {
  const names = await roamNamespaces();
  if (names.length === 0) return console.log("no roam namespaces");
  if (!yes) {
    console.log(names.join("\n"));
    console.log(
      "\nrun 'clean --yes' to remove these (not while tests or another 'up' are running)",
    );
    return;
  }
  for (const ns of names) {
    const pids = await new Deno.Command("ip", { args: ["netns", "pids", ns], stdout: "piped" })
      .output();
    for (const pid of new TextDecoder().decode(pids.stdout).split(/\s+/).filter(Boolean)) {
      try {
        Deno.kill(Number(pid), "SIGKILL");
      } catch { /* gone */ }
    }
    await new Deno.Command("ip", { args: ["netns", "del", ns] }).output();
    console.log(`removed ${ns}`);
  }
}

const [command = "help", arg] = Deno.args;
if (command === "up") await up(Number(arg ?? 3));
else if (command === "list") console.log((await roamNamespaces()).join("\n") || "none");
else if (command === "clean") await clean(arg === "--yes");
else {
  console.log(
    "usage: deno run -A scripts/netns.ts up [N] | list | clean [--yes]\n" +
      "  up     make a private LAN of N namespaces (default 3) and keep it until Ctrl-C\n" +
      "  list   list roam's namespaces\n" +
      "  clean  remove namespaces left behind by killed test runs",
  );
}
