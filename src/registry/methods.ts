import {
  registryInfo,
  registryInstall,
  registryInstalled,
  registryProgress,
  registryRemove,
  registrySearch,
  registryUpdate,
} from "../api/mod.ts";
import { implement, type MethodImpl } from "../rpc/mod.ts";
import type { RegistryService } from "./registry.ts";

/** The `registry.*` methods, served from `service`. */
export function registryMethods(service: RegistryService): MethodImpl[] {
  return [
    implement(
      registrySearch,
      ({ text, registry, acceptNewKey }, ctx) =>
        service.search(text, { registry, acceptNewKey, signal: ctx.signal }),
    ),
    implement(
      registryInfo,
      ({ name, registry, acceptNewKey }, ctx) =>
        service.info(name, { registry, acceptNewKey, signal: ctx.signal }),
    ),
    implement(
      registryInstall,
      ({ name, range, registry, acceptNewKey, progressId }, ctx) =>
        service.install(name, { range, registry, acceptNewKey, progressId, signal: ctx.signal }),
    ),
    implement(
      registryUpdate,
      ({ name, registry, acceptNewKey, progressId }, ctx) =>
        service.update(name, { registry, acceptNewKey, progressId, signal: ctx.signal }),
    ),
    implement(registryRemove, ({ name }) => service.remove(name)),
    implement(registryInstalled, async () => ({ plugins: await service.installed() })),
    implement(registryProgress, ({ id }) => ({ progress: service.progress(id) ?? null })),
  ];
}
