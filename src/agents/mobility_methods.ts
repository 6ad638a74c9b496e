import {
  agentCommit,
  agentDispatch,
  agentReceive,
  agentRetract,
  agentSettle,
  pluginBundle,
} from "../api/mod.ts";
import { implement, type MethodImpl } from "../rpc/mod.ts";
import type { AgentMobility } from "./mobility.ts";

/**
 * The RPC methods of moving agents: `agent.dispatch` and `agent.retract` for
 * people and programs, and the host-to-host steps of a hand-off
 * (`agent.receive`, `agent.commit`, `agent.settle`, `plugin.bundle`), which
 * need a token of the same mesh like every other method.
 */
export function mobilityMethods(mobility: AgentMobility): MethodImpl[] {
  return [
    implement(agentDispatch, (p) => mobility.dispatch(p.id, p.to, { retract: p.retract })),
    implement(agentRetract, (p) => mobility.retract(p.id, p.from)),
    implement(agentReceive, (p) => mobility.receive(p.envelope)),
    implement(agentCommit, (p) => mobility.commit(p.transferId)),
    implement(agentSettle, (p) => mobility.settle(p.transferId)),
    implement(pluginBundle, (p) => mobility.bundle(p.sha256)),
  ];
}
