import { RoamError } from "../errors/mod.ts";
import type { MeshHost } from "./record.ts";

/** What {@linkcode hostAddress} needs of a mesh: look a host up by name or id. */
export interface HostFinder {
  find(host: string): MeshHost | undefined;
}

/** Whether `ref` is written as a URL (`scheme://...`) rather than a host name or id. */
export function isUrlRef(ref: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(ref);
}

/**
 * The base URL of the host that `ref` names: a URL is returned as it is; a
 * host name or id is looked up in the mesh and must be alive there. Throws
 * `not_found` for a host the mesh does not know and `unavailable` for one
 * that is not alive.
 *
 * @example
 * const url = hostAddress(mesh, "gpu-box"); // "http://192.168.1.20:7420"
 */
export function hostAddress(mesh: HostFinder, ref: string): string {
  if (isUrlRef(ref)) return ref;
  const host = mesh.find(ref);
  if (!host) {
    throw new RoamError(
      "not_found",
      `no host named "${ref}" in the mesh; list the hosts this one knows with 'roam hosts', or give a host URL`,
      { host: ref },
    );
  }
  if (host.state !== "alive") {
    throw new RoamError(
      "unavailable",
      `host "${ref}" is ${host.state} in the mesh (last seen ${
        host.lastSeenAgoMs === null ? "never" : `${Math.round(host.lastSeenAgoMs / 1000)} s ago`
      }); see 'roam hosts', or wait for it with 'roam rpc mesh.wait'`,
      { host: ref, id: host.id, state: host.state, url: host.url },
    );
  }
  return host.url;
}
