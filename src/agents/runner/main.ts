/**
 * The agent runner: a child process of the host (the host's own executable,
 * started with a V8 heap limit) that runs agent workers. It reads commands as
 * JSON lines on stdin and writes what its workers say as JSON lines on
 * stdout. When stdin closes (the host is gone, even after kill -9), it exits,
 * so no runner outlives its host.
 *
 * @module
 */
import type { FromRunner, ToRunner } from "../protocol.ts";

/** The fixed worker module: the only code a worker is started with. */
export const WORKER_MODULE: URL = new URL("../worker/runtime.ts", import.meta.url);

/**
 * Start and stop one throwaway worker before taking agents: the first worker
 * of a process loads the runtime's modules, and an agent should not wait for
 * that (it halves the time from create to first reply).
 */
async function warmUp(): Promise<void> {
  const none = {
    read: false,
    write: false,
    net: false,
    env: false,
    run: false,
    ffi: false,
    sys: false,
    import: false,
  };
  const worker = new Worker(new URL("../worker/runtime.ts", import.meta.url), {
    type: "module",
    name: "warm-up",
    deno: { permissions: none },
  });
  try {
    await new Promise<void>((resolve) => {
      worker.onmessage = () => resolve();
      worker.onerror = (event) => {
        event.preventDefault();
        resolve();
      };
      worker.postMessage({
        op: "init",
        code: 'module.exports.default = class extends require("@roam/agent").Agent {};',
        id: "warm-up",
        host: { id: "", name: "" },
        plugin: { name: "warm-up", version: "0.0.0", sha256: "" },
        mode: "create",
        state: null,
        storage: { scratchDir: "", dir: "" },
      });
    });
  } finally {
    worker.terminate();
  }
}

/** Run the runner loop until stdin closes. */
export async function runRunner(): Promise<void> {
  const workers = new Map<string, Worker>();
  const encoder = new TextEncoder();
  const out = Deno.stdout;
  const write = (message: FromRunner) => {
    // Synchronous writes keep lines whole and in order.
    const bytes = encoder.encode(JSON.stringify(message) + "\n");
    let offset = 0;
    while (offset < bytes.length) offset += out.writeSync(bytes.subarray(offset));
  };
  const stop = (id: string, reason: string) => {
    const worker = workers.get(id);
    if (!worker) return;
    workers.delete(id);
    worker.terminate();
    write({ t: "exited", a: id, reason });
  };
  await warmUp();
  write({ t: "ready", pid: Deno.pid });

  let rest = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    const lines = rest.split("\n");
    rest = lines.pop()!;
    for (const line of lines) {
      if (!line) continue;
      const command = JSON.parse(line) as ToRunner;
      switch (command.t) {
        case "spawn": {
          const id = command.a;
          const worker = new Worker(new URL("../worker/runtime.ts", import.meta.url), {
            type: "module",
            name: `agent-${id}`,
            deno: { permissions: command.permissions },
          });
          worker.onmessage = (event) => write({ t: "msg", a: id, m: event.data });
          worker.onerror = (event) => {
            event.preventDefault();
            stop(id, `uncaught error: ${event.message}`);
          };
          worker.onmessageerror = () => stop(id, "the worker sent a message that cannot be read");
          workers.set(id, worker);
          break;
        }
        case "post":
          workers.get(command.a)?.postMessage(command.m);
          break;
        case "kill":
          stop(command.a, "stopped by the host");
          break;
      }
    }
  }
  for (const id of [...workers.keys()]) stop(id, "the host went away");
  Deno.exit(0);
}
