/**
 * A private LAN for multi-host tests: N network namespaces, each with one
 * veth link into a bridge that lives in its own test-only namespace, with
 * addresses 10.200.X.(i+1)/24 and a multicast route. No packet can leave
 * it: the machine's own interfaces are never part of it. Everything is torn
 * down by `close()` (use `await using`), after failures too.
 *
 * The test process itself stays outside; it reaches HTTP servers inside a
 * namespace through a small forwarder that listens on a Unix socket (see
 * {@linkcode Lan.httpClient}).
 *
 * @module
 */

const FORWARDER = new URL("../fixtures/mesh_forward.ts", import.meta.url).pathname;

/** Options for {@linkcode createLan}. */
export interface LanOptions {
  /** Name prefix; namespaces are `PREFIX-<random>-<i>`. Default `roam-t`. */
  prefix?: string;
}

/** Options for {@linkcode Lan.spawn}. */
export interface SpawnOptions {
  /** Environment added to the test's own. */
  env?: Record<string, string>;
  /** Keep standard output and error (default: piped, read by the caller). */
  stdout?: "piped" | "null";
}

/** A private LAN of network namespaces. */
export interface Lan extends AsyncDisposable {
  /** `PREFIX-<random>`, the start of every namespace name. */
  readonly id: string;
  /** The hosts' namespaces, in order. */
  readonly namespaces: readonly string[];
  /** The namespace that holds the bridge. */
  readonly bridge: string;
  /** Where temporary files (forwarder sockets) live; removed by `close`. */
  readonly dir: string;
  /** The address of namespace `i` (from 0). */
  address(i: number): string;
  /** Start a process inside namespace `i` (`ip netns exec`); `close` kills it if still running. */
  spawn(i: number, command: string, args: string[], options?: SpawnOptions): Deno.ChildProcess;
  /** Run a command inside namespace `i` to completion. */
  run(i: number, command: string, args: string[]): Promise<Deno.CommandOutput>;
  /**
   * An HTTP client whose every request goes to `127.0.0.1:port` inside
   * namespace `i`, whatever the URL says. Close it when done (or let `close`).
   */
  httpClient(i: number, port: number): Promise<Deno.HttpClient>;
  /** Kill every process started here, remove the namespaces and temporary files. Idempotent. */
  close(): Promise<void>;
}

/** Whether this process may make named network namespaces (root, `ip netns`, veth, bridge). */
export async function canUseLan(): Promise<{ ok: boolean; why: string }> {
  if (Deno.build.os !== "linux") return { ok: false, why: "network namespaces need Linux" };
  const name = `roam-probe-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const added = await ip("netns", "add", name);
    if (!added.ok) return { ok: false, why: `'ip netns add' failed: ${added.err}` };
    const bridge = await ip("-n", name, "link", "add", "br0", "type", "bridge");
    const veth = await ip("-n", name, "link", "add", "a0", "type", "veth", "peer", "name", "b0");
    if (!bridge.ok) return { ok: false, why: `cannot make a bridge: ${bridge.err}` };
    if (!veth.ok) return { ok: false, why: `cannot make a veth pair: ${veth.err}` };
    return { ok: true, why: "" };
  } catch (error) {
    return { ok: false, why: `ip is missing: ${(error as Error).message}` };
  } finally {
    await ip("netns", "del", name).catch(() => {});
  }
}

/**
 * Make a LAN of `hosts` namespaces. Throws (after removing what it made)
 * when any step fails.
 *
 * @example
 * await using lan = await createLan(3);
 * const child = lan.spawn(0, Deno.execPath(), ["run", "-A", "server.ts"]);
 */
export async function createLan(hosts: number, options: LanOptions = {}): Promise<Lan> {
  const id = `${options.prefix ?? "roam-t"}-${crypto.randomUUID().slice(0, 6)}`;
  const bridge = `${id}-br`;
  const namespaces = Array.from({ length: hosts }, (_, i) => `${id}-${i + 1}`);
  const subnet = `10.200.${1 + Math.floor(Math.random() * 254)}`;
  const dir = await Deno.makeTempDir({ prefix: `${id}-` });
  const made: string[] = [];
  const children = new Set<Deno.ChildProcess>();
  const clients = new Set<Deno.HttpClient>();
  let closed: Promise<void> | undefined;

  const close = () =>
    closed ??= (async () => {
      for (const client of clients) client.close();
      for (const child of children) {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }
      await Promise.allSettled([...children].map((c) => c.status));
      // Anything else still running in our namespaces was started inside them by us.
      for (const ns of made) await killAllIn(ns);
      for (const ns of made.reverse()) await ip("netns", "del", ns);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();

  const must = async (...args: string[]) => {
    const out = await ip(...args);
    if (!out.ok) throw new Error(`ip ${args.join(" ")}: ${out.err}`);
  };

  try {
    await must("netns", "add", bridge);
    made.push(bridge);
    await must("-n", bridge, "link", "set", "lo", "up");
    await must("-n", bridge, "link", "add", "br0", "type", "bridge");
    // Flood multicast to every port instead of waiting for IGMP reports.
    await ip("-n", bridge, "link", "set", "br0", "type", "bridge", "mcast_snooping", "0");
    await must("-n", bridge, "link", "set", "br0", "up");
    for (const [i, ns] of namespaces.entries()) {
      await must("netns", "add", ns);
      made.push(ns);
      await must("-n", ns, "link", "set", "lo", "up");
      await must(
        "-n",
        ns,
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        `p${i}`,
        "netns",
        bridge,
      );
      await must("-n", ns, "addr", "add", `${subnet}.${i + 1}/24`, "dev", "eth0");
      await must("-n", ns, "link", "set", "eth0", "up");
      await must("-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0");
      await must("-n", bridge, "link", "set", `p${i}`, "master", "br0");
      await must("-n", bridge, "link", "set", `p${i}`, "up");
    }
  } catch (error) {
    await close();
    throw error;
  }

  const spawn = (i: number, command: string, args: string[], opts: SpawnOptions = {}) => {
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", namespaces[i], command, ...args],
      env: opts.env,
      stdin: "null",
      stdout: opts.stdout ?? "piped",
      stderr: opts.stdout ?? "piped",
    }).spawn();
    children.add(child);
    child.status.then(() => children.delete(child));
    return child;
  };

  return {
    id,
    namespaces,
    bridge,
    dir,
    address: (i) => `${subnet}.${i + 1}`,
    spawn,
    run: (i, command, args) =>
      new Deno.Command("ip", {
        args: ["netns", "exec", namespaces[i], command, ...args],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output(),
    async httpClient(i, port) {
      const path = `${dir}/http-${i}-${port}.sock`;
      const child = spawn(i, Deno.execPath(), [
        "run",
        "--allow-all",
        FORWARDER,
        path,
        String(port),
      ]);
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const first = await reader.read();
      reader.releaseLock();
      child.stdout.cancel().catch(() => {});
      child.stderr.cancel().catch(() => {});
      if (!first.value?.includes("ready")) {
        throw new Error(`the HTTP forwarder in ${namespaces[i]} did not start`);
      }
      const client = Deno.createHttpClient({ proxy: { transport: "unix", path } });
      clients.add(client);
      return client;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

async function killAllIn(ns: string) {
  const out = await new Deno.Command("ip", {
    args: ["netns", "pids", ns],
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => null);
  if (!out?.success) return;
  for (const pid of new TextDecoder().decode(out.stdout).split(/\s+/).filter(Boolean)) {
    try {
      Deno.kill(Number(pid), "SIGKILL");
    } catch { /* gone */ }
  }
}

async function ip(...args: string[]): Promise<{ ok: boolean; err: string }> {
  const out = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  return { ok: out.success, err: new TextDecoder().decode(out.stderr).trim() };
}
