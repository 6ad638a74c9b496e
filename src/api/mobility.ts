import { z } from "zod";
import { defineMethod } from "../rpc/mod.ts";
import { PlacementSchema } from "./agents.ts";

const AgentId = z.string().uuid().describe("an agent id");
const TransferId = z.string().uuid().describe("the id of one hand-off");
const HostRef = z.string().min(1).max(2048).describe(
  "a host URL, like http://10.0.0.5:7420, or the name or id of an alive host of the mesh",
);
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, { message: "a sha256 is 64 hex digits" });

/** Where a move left an agent. */
const MovedSchema = z.object({
  id: z.string(),
  location: z.string().describe("the URL of the host the agent is on now"),
  transferId: z.string(),
});

/** `agent.dispatch`: move an agent to another host. */
export const agentDispatch = defineMethod({
  name: "agent.dispatch",
  summary:
    "Move a running agent to another host: onDispatching here, its state and waiting messages travel, onArrival and run() there. Exactly once: if the target does not take it, it stays here.",
  params: z.object({
    id: AgentId,
    to: z.union([HostRef, PlacementSchema]).describe(
      "a host name or URL, or what the host must offer: the best other alive host that matches is chosen",
    ),
    retract: z.boolean().optional().describe(
      "set by agent.retract on the host pulling the agent back: onReverting runs instead of onDispatching",
    ),
  }).strict(),
  positional: ["id", "to"],
  result: MovedSchema,
  timeoutMs: 180_000,
});

/** `agent.retract`: pull an agent back to this host. */
export const agentRetract = defineMethod({
  name: "agent.retract",
  summary:
    "Pull an agent back to this host from the host it is on (following it if it moved on); onReverting runs there, onArrival here.",
  params: z.object({ id: AgentId, from: HostRef }).strict(),
  positional: ["id", "from"],
  result: MovedSchema,
  timeoutMs: 180_000,
});

/** `agent.receive`: take an agent's envelope from another host (host to host). */
export const agentReceive = defineMethod({
  name: "agent.receive",
  summary:
    "Host to host: store an agent's envelope durably and acknowledge it; the agent starts at agent.commit. Delivering the same transfer again is harmless.",
  params: z.object({
    envelope: z.record(z.string(), z.unknown()).describe("a versioned agent envelope"),
  }).strict(),
  result: z.object({
    accepted: z.literal(true),
    transferId: z.string(),
    duplicate: z.boolean().describe("true when this transfer had been delivered before"),
  }),
  timeoutMs: 120_000,
});

/** `agent.commit`: the source dropped its copy; start the agent (host to host). */
export const agentCommit = defineMethod({
  name: "agent.commit",
  summary:
    "Host to host: the source has dropped its copy of an agent it sent; start it here (onArrival, run(), then its travelling messages).",
  params: z.object({ transferId: TransferId }).strict(),
  positional: ["transferId"],
  result: z.object({
    id: z.string(),
    started: z.boolean().describe("false when it failed to start and is kept as crashed"),
  }),
  timeoutMs: 120_000,
});

/** `agent.settle`: how did a transfer end? (host to host) */
export const agentSettle = defineMethod({
  name: "agent.settle",
  summary:
    "Host to host: whether this host holds a transfer (accepted) or not; one it does not hold is refused for good from now on (aborted).",
  params: z.object({ transferId: TransferId }).strict(),
  positional: ["transferId"],
  result: z.object({ outcome: z.enum(["accepted", "aborted"]) }),
});

/** `plugin.bundle`: the code of an installed plugin, by its sha256 (host to host). */
export const pluginBundle = defineMethod({
  name: "plugin.bundle",
  summary:
    "The manifest and bundle of an installed plugin, by sha256, for a host an agent of it moves to (it checks the sha256 itself).",
  params: z.object({ sha256: Sha256 }).strict(),
  positional: ["sha256"],
  result: z.object({
    name: z.string(),
    version: z.string(),
    sha256: Sha256,
    manifest: z.record(z.string(), z.unknown()),
    code: z.string(),
  }),
  timeoutMs: 120_000,
});
