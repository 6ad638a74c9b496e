import assert from "node:assert/strict";
import { isRoamError } from "../errors/mod.ts";
import { hostAddress, isUrlRef } from "./address.ts";
import type { MeshHost } from "./record.ts";

function host(name: string, state: MeshHost["state"], url: string): MeshHost {
  return {
    id: `id-${name}`,
    name,
    state,
    self: false,
    url,
    urls: [url],
    version: "0.0.0",
    tags: [],
    properties: {},
    load: [0, 0, 0],
    freeRamMb: 1024,
    totalRamMb: 2048,
    gpus: [],
    epoch: 1,
    incarnation: 0,
    gossip: "10.0.0.1:7420",
    stateSince: new Date(0).toISOString(),
    lastSeen: null,
    lastSeenAgoMs: 4_000,
  };
}

const hosts = [
  host("b", "alive", "http://10.0.0.2:7420"),
  host("c", "dead", "http://10.0.0.3:7420"),
];
const mesh = {
  find: (ref: string) => hosts.find((h) => h.name === ref || h.id === ref),
};

Deno.test("a URL is used as it is; a host name or id becomes the URL of that alive host", () => {
  assert.equal(hostAddress(mesh, "http://10.0.0.9:7420"), "http://10.0.0.9:7420");
  assert.equal(hostAddress(mesh, "b"), "http://10.0.0.2:7420");
  assert.equal(hostAddress(mesh, "id-b"), "http://10.0.0.2:7420");
  assert.equal(isUrlRef("https://x"), true);
  assert.equal(isUrlRef("gpu-box"), false);
});

Deno.test("an unknown name is not_found and a dead host unavailable, both pointing at 'roam hosts'", () => {
  assert.throws(
    () => hostAddress(mesh, "nowhere"),
    (e) => isRoamError(e, "not_found") && /no host named "nowhere".*roam hosts/.test(e.message),
  );
  assert.throws(
    () => hostAddress(mesh, "c"),
    (e) => isRoamError(e, "unavailable") && /"c" is dead.*4 s ago.*roam hosts/.test(e.message),
  );
});
