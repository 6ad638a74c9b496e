import assert from "node:assert/strict";
import { EventLog, type RoamEvent } from "./mod.ts";
import { openStore } from "./mod.ts";

function withLog(retain: number, fn: (log: EventLog) => void) {
  const db = openStore({ path: ":memory:" });
  try {
    fn(new EventLog(db, { retain, maxListeners: 2 }));
  } finally {
    db.close();
  }
}

Deno.test("events get increasing seqs and page by `since` and `limit`", () => {
  withLog(100, (log) => {
    for (let i = 0; i < 5; i++) log.append("test.tick", { i });
    assert.deepEqual(log.since({ since: 0, limit: 2 }).map((e) => e.data.i), [0, 1]);
    assert.deepEqual(log.since({ since: 2, limit: 10 }).map((e) => e.seq), [3, 4, 5]);
    assert.deepEqual(log.bounds(), { latest: 5, oldest: 1, count: 5 });
  });
});

Deno.test("the log keeps at most `retain` events, dropping the oldest, and never reuses a seq", () => {
  withLog(10, (log) => {
    for (let i = 0; i < 95; i++) log.append("test.tick", { i });
    const { latest, oldest, count } = log.bounds();
    assert.equal(latest, 95);
    assert.ok(count <= 10 + 1, `kept ${count}`);
    assert.ok(oldest >= 95 - 10, `oldest ${oldest}`);
    assert.equal(log.append("test.tick").seq, 96);
  });
});

Deno.test("type filters match exactly, or by prefix when they end in '.'", () => {
  withLog(100, (log) => {
    log.append("host.started");
    log.append("agent.created");
    log.append("host_x.other");
    log.append("host.stopped");
    const types = (filter: string[]) =>
      log.since({ since: 0, limit: 10, types: filter }).map((e) => e.type);
    assert.deepEqual(types(["host."]), ["host.started", "host.stopped"]);
    assert.deepEqual(types(["agent.created", "host.stopped"]), ["agent.created", "host.stopped"]);
    assert.deepEqual(types(["host%."]), []);
    assert.equal(EventLog.matches("host.started", ["host."]), true);
    assert.equal(EventLog.matches("hostile.x", ["host."]), false);
  });
});

Deno.test("listeners hear every append until they stop, and their number is bounded", () => {
  withLog(100, (log) => {
    const heard: RoamEvent[] = [];
    const stop = log.listen((e) => heard.push(e));
    log.listen(() => {
      throw new Error("a bad listener");
    });
    log.append("test.a");
    stop();
    log.append("test.b");
    assert.deepEqual(heard.map((e) => e.type), ["test.a"]);
    log.listen(() => {});
    assert.throws(() => log.listen(() => {}), RangeError);
  });
});
