import {
  type Host,
  type HostConfigInput,
  startHost,
  type StartOptions,
} from "../../src/host/mod.ts";

/** A host on a free loopback port with its own temporary data dir, silent. */
export interface TestHost {
  /** The running host. */
  host: Host;
  /** Its data dir (removed by `dispose` when the test did not give one). */
  dataDir: string;
  /** A valid token for it. */
  token: string;
  /** Stop the host and remove its data dir. */
  dispose(): Promise<void>;
}

/** Start a host for a test; `await using` it or call `dispose` in `finally`. */
export async function startTestHost(
  config: HostConfigInput = {},
  options: StartOptions = {},
): Promise<TestHost & AsyncDisposable> {
  const dataDir = config.dataDir ?? await Deno.makeTempDir({ prefix: "roam-test-" });
  const host = await startHost({ port: 0, name: "test", ...config, dataDir }, {
    log: () => {},
    ...options,
  });
  const dispose = async () => {
    await host.stop();
    if (!config.dataDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  };
  return {
    host,
    dataDir,
    token: host.tokens.mint({ ttlMs: 60_000, subject: "test" }),
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
}

/** Whether this process may make network namespaces (root with `unshare` and `ip`). */
export async function canUseNetns(): Promise<{ ok: boolean; why: string }> {
  if (Deno.build.os !== "linux") return { ok: false, why: "network namespaces need Linux" };
  try {
    const out = await new Deno.Command("unshare", {
      args: ["-n", "ip", "link", "set", "lo", "up"],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (out.success) return { ok: true, why: "" };
    return {
      ok: false,
      why: `'unshare -n ip link' failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    };
  } catch (error) {
    return { ok: false, why: `unshare or ip is missing: ${(error as Error).message}` };
  }
}
