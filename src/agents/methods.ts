import {
  agentActivate,
  agentClone,
  agentCreate,
  agentDeactivate,
  agentDispose,
  agentGet,
  agentList,
  agentMulticast,
  agentRestart,
  agentSend,
} from "../api/mod.ts";
import { RoamError } from "../errors/mod.ts";
import { implement, type MethodImpl } from "../rpc/mod.ts";
import type { AgentManager } from "./manager.ts";
import type { AgentMobility } from "./mobility.ts";

/** The `agent.*` RPC methods over a manager; `mobility` clones to other hosts. */
export function agentMethods(agents: AgentManager, mobility?: AgentMobility): MethodImpl[] {
  return [
    implement(agentCreate, async ({ to, ...p }) => {
      if (to === undefined) return { id: await agents.create(p) };
      if (!mobility) {
        throw new RoamError("unsupported", "this host does not place agents on other hosts", {});
      }
      return await mobility.createPlaced(p, to);
    }),
    implement(agentSend, (p) => agents.send(p)),
    implement(agentList, (p) => ({
      agents: agents.list().filter((a) =>
        (!p.plugin || a.plugin === p.plugin) && (!p.status || a.status === p.status)
      ),
    })),
    implement(agentGet, (p) => agents.get(p.id, p.withState)),
    implement(agentDeactivate, async (p) => {
      const activateAt = typeof p.activateAt === "string" ? Date.parse(p.activateAt) : p.activateAt;
      await agents.deactivate(p.id, {
        activateOnMessage: p.activateOnMessage,
        queueWhenInactive: p.queueWhenInactive,
        activateAt,
      });
      return { ok: true as const };
    }),
    implement(agentActivate, async (p) => {
      await agents.activate(p.id);
      return { ok: true as const };
    }),
    implement(agentDispose, async (p) => {
      await agents.dispose(p.id);
      return { ok: true as const };
    }),
    implement(agentRestart, async (p) => {
      await agents.restart(p.id);
      return { ok: true as const };
    }),
    implement(agentClone, async (p) => {
      if (p.to === undefined || !mobility) {
        if (p.to !== undefined) {
          throw new RoamError("unsupported", "this host does not move agents between hosts", {});
        }
        return { id: await agents.clone(p.id) };
      }
      return await mobility.cloneTo(p.id, p.to);
    }),
    implement(agentMulticast, async (p) => ({ replies: await agents.multicast(p) })),
  ];
}
