import {
  artifactFetch,
  artifactGc,
  artifactList,
  artifactLocate,
  artifactPin,
  artifactRemove,
  artifactReplicate,
  artifactStat,
  artifactUnpin,
} from "../api/mod.ts";
import { RoamError } from "../errors/mod.ts";
import { implement, type MethodImpl } from "../rpc/mod.ts";
import type { ArtifactMesh } from "./mesh.ts";
import type { ArtifactStore, BlobInfo } from "./store.ts";

/** The `artifact.*` RPC methods over a host's store and the mesh. */
export function artifactMethods(store: ArtifactStore, mesh: ArtifactMesh): MethodImpl[] {
  return [
    implement(artifactList, (p) => ({
      artifacts: store.list(p).map(toWire),
      usage: store.usage(),
    })),
    implement(artifactStat, (p) => {
      const info = store.stat(p.sha256);
      if (!info) {
        throw new RoamError("not_found", `no blob ${p.sha256} on this host`, { sha256: p.sha256 });
      }
      return toWire(info);
    }),
    implement(artifactRemove, async (p) => ({
      removed: await store.remove(p.sha256, { force: p.force }),
    })),
    implement(artifactPin, async (p) => {
      await store.pin(p.sha256, p.holder, p.name);
      return { ok: true as const };
    }),
    implement(artifactUnpin, async (p) => ({ removed: await store.dropPin(p.sha256, p.holder) })),
    implement(artifactGc, (p) => store.gc({ dryRun: p.dryRun })),
    implement(artifactLocate, (p) => mesh.locate(p.sha256)),
    implement(artifactFetch, (p) => mesh.fetch(p.sha256, { from: p.from, waitMs: p.waitMs })),
    implement(artifactReplicate, (p) => mesh.replicate(p.sha256, p.to, { fanout: p.fanout })),
  ];
}

function toWire(info: BlobInfo) {
  const iso = (ms: number | null) => ms === null ? null : new Date(ms).toISOString();
  return {
    sha256: info.sha256,
    size: info.size,
    created: new Date(info.createdAt).toISOString(),
    owner: info.owner,
    name: info.name,
    mediaType: info.mediaType,
    expires: iso(info.expiresAt),
    released: iso(info.releasedAt),
    pins: info.pins.map((p) => ({
      holder: p.holder,
      name: p.name,
      created: new Date(p.createdAt).toISOString(),
    })),
  };
}
