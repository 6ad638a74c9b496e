/**
 * The floor for memory per idle agent: how much resident memory one more
 * idle bare worker (`fixtures/bare_worker.ts`, every permission denied) adds
 * to a Deno process. Starts one worker first (so that loading the worker
 * module is not counted), reads the process's resident memory, starts N
 * more (each has answered a message, so it is fully up), lets the process
 * settle, reads it again, and prints `{"bytesPerWorker": B}` as one line on
 * stdout.
 *
 * ```sh
 * deno run --allow-read --unstable-worker-options scripts/bench/idle_workers.ts 20
 * ```
 *
 * @module
 */
import { DENY_ALL } from "./workers.ts";

const count = Number(Deno.args[0] ?? "20");
if (!Number.isInteger(count) || count < 1) {
  console.error(
    `usage: idle_workers.ts N (a whole number of workers, 1 or more), not ${Deno.args[0]}`,
  );
  Deno.exit(2);
}
const MODULE = new URL("./fixtures/bare_worker.ts", import.meta.url);

async function startWorker(): Promise<Worker> {
  const worker = new Worker(MODULE, { type: "module", deno: { permissions: DENY_ALL } });
  const { promise, resolve } = Promise.withResolvers<void>();
  worker.onmessage = () => resolve();
  worker.postMessage({ op: "echo", v: 1 });
  await promise;
  return worker;
}

const rss = () => Deno.memoryUsage().rss;

const settle = () => new Promise((resolve) => setTimeout(resolve, 300));
const workers = [await startWorker()];
await settle();
const before = rss();
for (let i = 0; i < count; i++) workers.push(await startWorker());
await settle();
const after = rss();
for (const worker of workers) worker.terminate();
console.log(JSON.stringify({ bytesPerWorker: (after - before) / count }));
