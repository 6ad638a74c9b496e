import assert from "node:assert/strict";
import { type Member, Membership, type MemberState, supersedes, toWire } from "./membership.ts";
import type { WireMember } from "./packet.ts";

const self: Member = {
  id: "self",
  name: "self",
  url: "http://10.0.0.1:7420",
  gossipPort: 7420,
  epoch: 1,
  incarnation: 0,
  state: "alive",
  stateSince: 0,
  lastSeen: 0,
};
const wire = (s: WireMember["s"], e = 1, c = 0, i = "b"): WireMember => ({
  i,
  n: i,
  u: `http://10.0.0.2:7420`,
  g: 7420,
  e,
  c,
  s,
});
const at = (state: MemberState, epoch = 1, incarnation = 0) => ({ state, epoch, incarnation });

Deno.test("SWIM precedence: newer incarnations win; at the same one suspect > alive, dead > suspect, left > dead", () => {
  assert.equal(supersedes(at("alive"), undefined), true);
  assert.equal(supersedes(at("suspect"), undefined), false, "no news about strangers but alive");
  assert.equal(supersedes(at("suspect"), at("alive")), true);
  assert.equal(supersedes(at("alive"), at("suspect")), false, "only the member itself refutes");
  assert.equal(supersedes(at("alive", 1, 1), at("suspect")), true, "a refutation");
  assert.equal(supersedes(at("dead"), at("suspect")), true);
  assert.equal(supersedes(at("dead"), at("alive")), true);
  assert.equal(supersedes(at("alive"), at("dead")), false);
  assert.equal(supersedes(at("alive", 1, 1), at("dead")), true, "it was alive after all");
  assert.equal(supersedes(at("alive", 2, 0), at("dead", 1, 9)), true, "a restart");
  assert.equal(supersedes(at("left"), at("dead")), true);
  assert.equal(supersedes(at("dead"), at("left")), false);
  assert.equal(supersedes(at("suspect", 1, 0), at("alive", 1, 1)), false, "old news");
  assert.equal(supersedes(at("alive"), at("alive")), false);
});

Deno.test("the member table reports transitions, restarts and nothing for old news", () => {
  const table = new Membership({ ...self }, { maxMembers: 3 });
  const joined = table.apply(wire("a"), 10);
  assert.ok(joined && joined !== "full");
  assert.equal(joined.previous, null);
  assert.equal(table.apply(wire("a"), 11), null);
  const suspected = table.apply(wire("s"), 12);
  assert.ok(suspected && suspected !== "full");
  assert.equal(suspected.previous, "alive");
  assert.equal(suspected.member.stateSince, 12);
  const m = table.get("b")!;
  m.record = {} as never;
  m.metrics = { l: [], f: 1, t: 1, g: [] };
  const dead = table.apply(wire("d"), 13);
  assert.ok(dead && dead !== "full" && dead.member.state === "dead" && !dead.restarted);
  assert.ok(m.record, "same start: the record stays");
  const back = table.apply(wire("a", 2, 0), 14);
  assert.ok(back && back !== "full" && back.restarted && back.previous === "dead");
  assert.equal(m.record, undefined, "a restart drops the old record");
  assert.equal(m.metrics, undefined);
  assert.deepEqual(table.live().map((x) => x.id), ["b"]);
  // Never about self.
  assert.equal(table.apply(wire("d", 1, 5, "self")), null);
  assert.equal(table.self.state, "alive");
});

Deno.test("a full table refuses strangers; dead members are pruned after the retention time", () => {
  const table = new Membership({ ...self }, { maxMembers: 2 });
  table.apply(wire("a", 1, 0, "b"), 0);
  assert.equal(table.apply(wire("a", 1, 0, "c"), 0), "full");
  table.apply(wire("d", 1, 0, "b"), 100);
  assert.deepEqual(table.prune(1_000, 1_000), []);
  assert.deepEqual(table.prune(1_000, 1_101), ["b"]);
  assert.equal(table.size, 1);
  assert.ok(table.apply(wire("a", 1, 0, "c"), 0));
});

Deno.test("toWire carries a member as gossip, in any state", () => {
  const w = toWire({ ...self }, "suspect");
  assert.deepEqual(w, {
    i: "self",
    n: "self",
    u: "http://10.0.0.1:7420",
    g: 7420,
    e: 1,
    c: 0,
    s: "s",
  });
});
