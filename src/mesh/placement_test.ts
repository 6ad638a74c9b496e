import assert from "node:assert/strict";
import { isRoamError } from "../errors/mod.ts";
import { placeAgent } from "./placement.ts";
import type { MeshHost } from "./record.ts";

function host(name: string, fields: Partial<MeshHost> = {}): MeshHost {
  return {
    id: `id-${name}`,
    name,
    state: "alive",
    self: false,
    url: `http://${name}:7420`,
    urls: [`http://${name}:7420`],
    version: "0.0.0",
    tags: [],
    properties: {},
    load: [0.5, 0.5, 0.5],
    freeRamMb: 4_000,
    totalRamMb: 8_000,
    gpus: [],
    epoch: 1,
    incarnation: 0,
    gossip: `${name}:7420`,
    stateSince: new Date(0).toISOString(),
    lastSeen: null,
    lastSeenAgoMs: null,
    ...fields,
  };
}

const gpu = (free: number) => ({ name: "NVIDIA H100", memoryTotalMb: 81_000, memoryFreeMb: free });

Deno.test("placement prefers the lowest load, then the most free RAM, then the first name", () => {
  const hosts = [
    host("a", { load: [2, 1, 1] }),
    host("b", { load: [0.1, 1, 1], freeRamMb: 1_000 }),
    host("c", { load: [0.1, 1, 1], freeRamMb: 9_000 }),
    host("d", { load: null }),
  ];
  assert.equal(placeAgent(hosts, {}).name, "c");
  assert.equal(placeAgent(hosts, { minFreeRamMb: 2_000 }).name, "c");
  assert.equal(placeAgent([host("y"), host("x")], {}).name, "x");
  assert.equal(
    placeAgent([host("d", { load: null }), host("e", { load: [9, 9, 9] })], {}).name,
    "e",
  );
});

Deno.test("placement takes only alive hosts with every tag, enough free RAM and a GPU with enough free VRAM", () => {
  const hosts = [
    host("dead", { state: "dead", tags: ["gpu"], gpus: [gpu(80_000)] }),
    host("small", { tags: ["gpu"], gpus: [gpu(2_000)], load: [0, 0, 0] }),
    host("big", { tags: ["gpu", "lab"], gpus: [gpu(1_000), gpu(40_000)], load: [3, 3, 3] }),
    host("plain", { load: [0, 0, 0] }),
  ];
  assert.equal(placeAgent(hosts, { tags: ["gpu"], gpu: { minFreeVramMb: 30_000 } }).name, "big");
  assert.equal(placeAgent(hosts, { tags: ["gpu"] }).name, "small");
  assert.equal(placeAgent(hosts, { tags: ["lab", "gpu"] }).name, "big");
  assert.equal(placeAgent(hosts, {}, { exclude: { "id-small": "is where it is" } }).name, "plain");
});

Deno.test("no match is not_found naming the constraint that excluded each host", () => {
  const hosts = [
    host("dead", { state: "dead" }),
    host("here"),
    host("untagged"),
    host("full", { tags: ["gpu"], freeRamMb: 100 }),
    host("quiet", { tags: ["gpu"], freeRamMb: null }),
    host("nogpu", { tags: ["gpu"] }),
    host("tight", { tags: ["gpu"], gpus: [gpu(500)] }),
  ];
  assert.throws(
    () =>
      placeAgent(hosts, { tags: ["gpu"], minFreeRamMb: 1_000, gpu: { minFreeVramMb: 8_000 } }, {
        exclude: { "id-here": "is where the agent is" },
      }),
    (e) => {
      assert.ok(isRoamError(e, "not_found"));
      assert.deepEqual(
        (e.data.excluded as { host: string; constraint: string }[]).map((x) => [
          x.host,
          x.constraint,
        ]),
        [
          ["dead", "state"],
          ["here", "exclude"],
          ["untagged", "tags"],
          ["full", "minFreeRamMb"],
          ["quiet", "minFreeRamMb"],
          ["nogpu", "gpu"],
          ["tight", "gpu"],
        ],
      );
      assert.match(e.message, /no host matches \{tags gpu; at least 1000 MB of free RAM; a GPU/);
      assert.match(e.message, /untagged lacks the tag gpu/);
      assert.match(e.message, /full has 100 MB of free RAM \(under 1000\)/);
      assert.match(e.message, /tight has at most 500 MB of free VRAM/);
      assert.match(e.message, /'roam hosts'/);
      return true;
    },
  );
});
