import assert from "node:assert/strict";
import { openStore } from "../store/mod.ts";
import type { Envelope } from "./envelope.ts";
import { Transfers } from "./transfers.ts";

function envelope(overrides: Partial<Envelope> = {}): Envelope {
  return {
    v: 1,
    kind: "dispatch",
    transferId: crypto.randomUUID(),
    epoch: 1,
    agent: { id: crypto.randomUUID() },
    plugin: { name: "p", version: "1.0.0", sha256: "0".repeat(64) },
    state: { n: 1 },
    messages: [],
    policy: { activateOnMessage: true, queueWhenInactive: true },
    metadata: {
      hops: 1,
      origin: "http://127.0.0.1:1",
      source: { id: "s", name: "s", url: "http://127.0.0.1:1" },
      sentAt: new Date().toISOString(),
    },
    ...overrides,
  };
}

function transfers() {
  const db = openStore({ path: ":memory:" });
  return {
    db,
    t: new Transfers(db, {
      tombstoneTtlMs: 60_000,
      maxTombstones: 2,
      arrivalTtlMs: 60_000,
      maxArrivals: 10,
    }),
  };
}

Deno.test("a stored envelope is acknowledged again on a repeat, and settles as accepted", () => {
  const { db, t } = transfers();
  try {
    const e = envelope();
    assert.deepEqual(t.store(e), { phase: "stored", duplicate: false });
    assert.deepEqual(t.store(e), { phase: "stored", duplicate: true });
    assert.equal(t.settle(e.transferId), "accepted");
    assert.equal(t.pendingArrival(e.agent.id)?.transferId, e.transferId);
    t.started(e);
    assert.equal(t.pendingArrival(e.agent.id), undefined);
    assert.equal(t.settle(e.transferId), "accepted");
    assert.deepEqual(t.travel(e.agent.id, "http://here:1"), {
      epoch: 1,
      hops: 1,
      origin: "http://127.0.0.1:1",
    });
  } finally {
    db.close();
  }
});

Deno.test("settling a transfer this host never stored fences it off: a late delivery is refused", () => {
  const { db, t } = transfers();
  try {
    const e = envelope();
    assert.equal(t.settle(e.transferId), "aborted");
    assert.deepEqual(t.store(e), { phase: "aborted", duplicate: true });
    assert.equal(t.pendingArrival(e.agent.id), undefined);
  } finally {
    db.close();
  }
});

Deno.test("a committed departure leaves a tombstone with its epoch; the oldest tombstones go past the limit", () => {
  const { db, t } = transfers();
  try {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const e = envelope({ epoch: 4 });
      ids.push(e.agent.id);
      t.depart(e, "http://there:1");
      assert.ok(t.isDeparting(e.agent.id));
      t.commit({
        transferId: e.transferId,
        agentId: e.agent.id,
        target: "http://there:1",
        epoch: 4,
      });
      t.forgetDeparture(e.transferId);
      assert.ok(!t.isDeparting(e.agent.id));
    }
    assert.equal(t.location(ids[2])?.url, "http://there:1");
    assert.equal(t.lastEpoch(ids[2]), 4);
    t.sweep();
    assert.equal(t.location(ids[0]), undefined);
    assert.equal(t.location(ids[1])?.epoch, 4);
  } finally {
    db.close();
  }
});
