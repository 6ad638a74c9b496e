import assert from "node:assert/strict";
import { join } from "node:path";
import { openStore } from "../store/mod.ts";
import { groupPids } from "./measure.ts";
import { ProcessRegistry } from "./process_registry.ts";

Deno.test("the sweep kills a recorded group that still runs, and never a reused pid", async () => {
  const dir = await Deno.makeTempDir({ prefix: "roam-registry-" });
  const db = openStore({ path: join(dir, "roam.db") });
  const child = new Deno.Command("setsid", { args: ["sleep", "300"], stdin: "null" }).spawn();
  try {
    // setsid makes the child a group leader once it runs; wait for that.
    const end = Date.now() + 5_000;
    while (!groupPids(child.pid).includes(child.pid) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const registry = new ProcessRegistry(db);
    registry.add(child.pid, "cap", "cap-1");
    // A row whose start time does not match is a reused pid: left alone.
    db.prepare("INSERT INTO capability_processes VALUES (?, ?, ?, ?, ?)").run(
      Deno.pid,
      "1",
      "x",
      "y",
      0,
    );
    const { killed } = new ProcessRegistry(db).sweep();
    assert.deepEqual(killed, [child.pid]);
    assert.equal((await child.status).signal, "SIGKILL");
    assert.deepEqual(groupPids(child.pid), []);
    assert.deepEqual(new ProcessRegistry(db).sweep().killed, []);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // gone
    }
    await child.status;
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
