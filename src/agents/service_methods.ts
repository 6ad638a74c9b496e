import { serviceCall, serviceDeclare, serviceList, serviceUndeclare } from "../api/mod.ts";
import { implement, type MethodImpl } from "../rpc/mod.ts";
import type { ServiceRegistry } from "./services.ts";

/** The `service.*` RPC methods over a registry. */
export function serviceMethods(services: ServiceRegistry): MethodImpl[] {
  return [
    implement(serviceList, (p) => ({ services: services.list(p) })),
    implement(serviceDeclare, (p) => services.declareResident(p)),
    implement(serviceUndeclare, async (p) => ({
      ok: true as const,
      removed: await services.undeclareResident(p.name),
    })),
    implement(serviceCall, (p) => services.call(p, null)),
  ];
}
