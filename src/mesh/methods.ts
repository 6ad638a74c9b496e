import { meshHosts, meshRecord, meshRotate, meshStats, meshSync, meshWait } from "../api/mod.ts";
import { implement, type MethodImpl } from "../rpc/mod.ts";
import type { Mesh } from "./mesh.ts";

/** The `mesh.*` RPC methods over a mesh. */
export function meshMethods(mesh: Mesh): MethodImpl[] {
  return [
    implement(meshHosts, ({ state }) => ({ hosts: mesh.hosts(state) })),
    implement(meshWait, ({ host, timeoutMs }, ctx) => mesh.wait(host, timeoutMs, ctx.signal)),
    implement(meshStats, () => mesh.stats()),
    implement(meshRecord, () => mesh.record()),
    implement(meshSync, ({ from }) => mesh.sync(from)),
    implement(meshRotate, ({ phase }) => mesh.rotate(phase)),
  ];
}
