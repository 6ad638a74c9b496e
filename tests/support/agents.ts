import assert from "node:assert/strict";
import { connect, isRoamError, type Roam } from "../../mod.ts";
import { packPlugin } from "../../src/plugins/mod.ts";
import { startTestHost, type TestHost } from "./host.ts";

/** A test host with a client; both closed by `await using`. */
export async function hostWithClient(
  ...args: Parameters<typeof startTestHost>
): Promise<{ t: TestHost; mesh: Roam } & AsyncDisposable> {
  const t = await startTestHost(...args);
  const mesh = await connect({ url: t.host.url, token: t.token });
  return {
    t,
    mesh,
    async [Symbol.asyncDispose]() {
      await mesh.close();
      await t.dispose();
    },
  };
}

/** Pack a plugin dir and install it on the host. */
export async function installPluginDir(mesh: Roam, dir: string): Promise<void> {
  const out = await Deno.makeTempDir({ prefix: "roam-pack-" });
  try {
    const packed = await packPlugin(dir, { outDir: out });
    await mesh.plugin.add({
      manifest: packed.manifest,
      code: await Deno.readTextFile(packed.bundlePath),
    });
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

/** Send a message and return the reply (it must be one). */
export async function ask(mesh: Roam, id: string, kind: string, args?: unknown): Promise<unknown> {
  const outcome = await mesh.agent.send({ id, kind, args });
  assert.equal(outcome.status, "replied");
  return outcome.reply;
}

/** The roam error a call fails with. */
export async function failure(call: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await call;
  } catch (error) {
    if (isRoamError(error)) return error;
    throw error;
  }
  assert.fail("the call succeeded");
}

/** Pids whose parent is `pid` (Linux). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) {
        out.push(Number(entry.name));
      }
    } catch { /* gone meanwhile */ }
  }
  return out;
}

/** Resolves when process `pid` is gone (or a zombie); fails after 10 s. */
export async function exited(pid: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return;
    } catch {
      return;
    }
    // /proc offers no event for another process's exit; poll it briefly.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`process ${pid} is still running`);
}
