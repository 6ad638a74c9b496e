import assert from "node:assert/strict";
import { resolveAddresses } from "../src/host/mod.ts";
import { canUseNetns } from "./support/host.ts";

Deno.test("auto picks IPv4 LAN addresses (no link-local, no IPv6) and keeps loopback, LAN first", () => {
  const interfaces = () => [
    { name: "lo", family: "IPv4" as const, address: "127.0.0.1" },
    { name: "eth0", family: "IPv4" as const, address: "192.168.1.20" },
    { name: "eth0", family: "IPv6" as const, address: "fe80::1" },
    { name: "wlan0", family: "IPv4" as const, address: "169.254.3.3" },
    { name: "wlan0", family: "IPv4" as const, address: "10.0.0.5" },
  ];
  assert.deepEqual(resolveAddresses(["auto"], interfaces), [
    "10.0.0.5",
    "192.168.1.20",
    "127.0.0.1",
  ]);
  assert.deepEqual(resolveAddresses(["loopback"], interfaces), ["127.0.0.1"]);
  assert.deepEqual(resolveAddresses(["10.0.0.5", "127.0.0.1"], interfaces), [
    "10.0.0.5",
    "127.0.0.1",
  ]);
});

const netns = await canUseNetns();
if (!netns.ok) console.log(`bind_auto_test: skipping the network-namespace test: ${netns.why}`);

Deno.test({
  name: "a --bind auto host follows real address changes on the same port (network namespace)",
  ignore: !netns.ok,
  async fn() {
    const out = await new Deno.Command("unshare", {
      args: [
        "-n",
        Deno.execPath(),
        "run",
        "--allow-all",
        "--unstable-net",
        new URL("./fixtures/rebind_in_netns.ts", import.meta.url).pathname,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.deepEqual(out.code, 0, stderr);
    const result = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
    const port = result.port;
    assert.deepEqual(result.initial, [`http://10.77.0.1:${port}`, `http://127.0.0.1:${port}`]);
    assert.deepEqual(result.initialReachable, true);
    assert.deepEqual(result.after, [`http://10.78.0.1:${port}`, `http://127.0.0.1:${port}`]);
    assert.deepEqual(result.newReachable, true);
    assert.deepEqual(result.oldReachable, false);
    assert.deepEqual(result.samePort, true);
    const changed = result.events.find((e: { type: string }) => e.type === "host.bind_changed");
    assert.deepEqual(changed.data.added, ["10.78.0.1"]);
    assert.deepEqual(changed.data.removed, ["10.77.0.1"]);
  },
});
