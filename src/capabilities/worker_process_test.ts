import assert from "node:assert/strict";
import { groupPids } from "./measure.ts";
import { GroupProcess } from "./worker_process.ts";

async function until(condition: () => boolean, ms: number, what: string) {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("a group process leads its own group and terminate kills grandchildren", async () => {
  const lines: string[] = [];
  const p = GroupProcess.spawn({
    command: "/bin/sh",
    args: ["-c", "sleep 300 & echo started; wait"],
    onLine: (_stream, line) => lines.push(line),
  });
  await until(() => lines.includes("started"), 5_000, "the first line");
  assert.ok(groupPids(p.pid).length >= 3, "shell, sleep and the watchdog");
  const status = await p.terminate(200);
  assert.equal(status.signal, "SIGTERM");
  await until(() => groupPids(p.pid).length === 0, 5_000, "the group to be empty");
  await p.drained;
});

Deno.test("closing the watchdog's pipe kills the group (what the host's death does)", async () => {
  const p = GroupProcess.spawn({ command: "sleep", args: ["300"] });
  await until(() => groupPids(p.pid).length >= 2, 5_000, "the watchdog to start");
  p.release();
  const status = await p.status;
  assert.equal(status.signal, "SIGTERM");
  await until(() => groupPids(p.pid).length === 0, 5_000, "the group to be empty");
  await p.drained;
});

Deno.test("a stop right after the spawn (before setsid took effect) still ends the process", async () => {
  for (let i = 0; i < 5; i++) {
    const p = GroupProcess.spawn({ command: "sleep", args: ["300"] });
    const status = await p.terminate(0);
    assert.ok(!status.success);
    await p.drained;
  }
});
