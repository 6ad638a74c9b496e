import { z } from "zod";
import { defineMethod } from "../rpc/mod.ts";

const AgentId = z.string().uuid().describe("an agent id");
const Json = z.unknown().describe("plain JSON data");

/** An agent as the host describes it. */
export const AgentSummarySchema = z.object({
  id: z.string(),
  plugin: z.string(),
  version: z.string(),
  status: z.enum(["active", "inactive", "crashed"]),
  queued: z.number().int().describe("messages kept while it sleeps"),
  mailbox: z.number().int().describe("messages waiting in its mailbox now"),
  reason: z.string().nullable().describe("why it sleeps or crashed"),
  activateAt: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  state: Json.optional(),
});

/** What a host must offer to be chosen for an agent (`agent.create`, `agent.dispatch`). */
export const PlacementSchema = z.object({
  tags: z.array(z.string().min(1).max(64)).max(64).optional().describe(
    "every one of these tags (--tag)",
  ),
  minFreeRamMb: z.number().int().min(0).optional().describe("at least this much free RAM, MB"),
  gpu: z.object({
    minFreeVramMb: z.number().int().min(0).describe("free VRAM on one GPU, MB"),
  }).strict().optional().describe("a GPU with at least this much free VRAM"),
}).strict().describe(
  "choose the best alive host that matches: lowest load first, then most free RAM",
);

/** The host an agent was placed on. */
export const PlacedHostSchema = z.object({ id: z.string(), name: z.string(), url: z.string() });

/** `agent.create`: start an agent of an installed plugin. */
export const agentCreate = defineMethod({
  name: "agent.create",
  summary: "Create an agent of an installed plugin; returns its id once onCreation has run.",
  params: z.object({
    plugin: z.string().min(1).max(64),
    version: z.string().max(64).optional(),
    state: Json.optional().describe("its first state; default: the class's initialState()"),
    init: Json.optional().describe("passed to onCreation"),
    to: PlacementSchema.optional().describe(
      "create it on the best alive host of the mesh that matches (this one included); default here",
    ),
  }).strict(),
  positional: ["plugin"],
  result: z.object({
    id: z.string(),
    host: PlacedHostSchema.optional().describe("where it was created, when `to` was given"),
  }),
  timeoutMs: 180_000,
});

/** `agent.send`: deliver a message. */
export const agentSend = defineMethod({
  name: "agent.send",
  summary:
    "Send a message to an agent; waits for the reply unless oneway. A sleeping agent wakes or keeps it, by its policy.",
  params: z.object({
    id: AgentId,
    kind: z.string().min(1).max(128),
    args: Json.optional(),
    priority: z.number().int().min(0).max(10).optional().describe(
      "1..10, higher first (default 5); 0 bypasses the queue",
    ),
    oneway: z.boolean().optional(),
    timeoutMs: z.number().int().min(1).max(3_600_000).optional().describe(
      "how long the handler may run; past it the agent is stopped as hung",
    ),
    forward: z.boolean().optional().describe(
      "when the agent moved to another host, deliver it there instead of failing with moved",
    ),
    hops: z.number().int().min(0).max(16).optional().describe(
      "set by a host that forwards the message: hosts it went through",
    ),
    from: z.string().max(128).optional().describe(
      "set by a host that forwards an agent's message: the sending agent",
    ),
  }).strict(),
  positional: ["id", "kind", "args"],
  result: z.object({
    status: z.enum(["replied", "accepted", "queued", "forwarded"]).describe(
      "forwarded: the message travelled with the agent to location, where it runs; no reply comes back",
    ),
    reply: Json.optional(),
    position: z.number().int().optional(),
    location: z.string().optional(),
  }),
  timeoutMs: 3_600_000,
});

/** `agent.list`: the agents of this host. */
export const agentList = defineMethod({
  name: "agent.list",
  summary: "Every agent of this host: active, asleep or crashed.",
  params: z.object({
    plugin: z.string().optional(),
    status: z.enum(["active", "inactive", "crashed"]).optional(),
  }).strict(),
  result: z.object({ agents: z.array(AgentSummarySchema) }),
});

/** `agent.get`: one agent. */
export const agentGet = defineMethod({
  name: "agent.get",
  summary: "One agent, with its state when asked.",
  params: z.object({ id: AgentId, withState: z.boolean().optional() }).strict(),
  positional: ["id", "withState"],
  result: AgentSummarySchema,
});

/** `agent.deactivate`: put an agent to sleep. */
export const agentDeactivate = defineMethod({
  name: "agent.deactivate",
  summary:
    "Put an agent to sleep: its state, policy and waiting messages go to disk and survive restarts.",
  params: z.object({
    id: AgentId,
    activateOnMessage: z.boolean().optional().describe(
      "wake when a message arrives (default true)",
    ),
    queueWhenInactive: z.boolean().optional().describe("keep messages while asleep (default true)"),
    activateAt: z.union([z.string().datetime({ offset: true }), z.number().int().positive()])
      .optional()
      .describe("wake at this time (ISO 8601, or ms since the epoch)"),
  }).strict(),
  positional: ["id"],
  result: z.object({ ok: z.literal(true) }),
});

const idOnly = z.object({ id: AgentId }).strict();

/** `agent.activate`: wake an agent. */
export const agentActivate = defineMethod({
  name: "agent.activate",
  summary: "Wake a sleeping agent; the messages kept for it are delivered in order.",
  params: idOnly,
  positional: ["id"],
  result: z.object({ ok: z.literal(true) }),
  timeoutMs: 600_000,
});

/** `agent.dispose`: end an agent. */
export const agentDispose = defineMethod({
  name: "agent.dispose",
  summary: "End an agent for good (onDisposing runs when it is active).",
  params: idOnly,
  positional: ["id"],
  result: z.object({ ok: z.literal(true) }),
});

/** `agent.restart`: restart a crashed agent. */
export const agentRestart = defineMethod({
  name: "agent.restart",
  summary: "Restart a crashed agent from its last good state.",
  params: idOnly,
  positional: ["id"],
  result: z.object({ ok: z.literal(true) }),
});

/** `agent.clone`: copy an agent. */
export const agentClone = defineMethod({
  name: "agent.clone",
  summary:
    "Copy a running agent (a new id, the same state) on this host, or on another host given its name or URL.",
  params: z.object({
    id: AgentId,
    to: z.string().min(1).max(2048).optional().describe(
      "a host name or id of the mesh, or a host URL; default this host",
    ),
  }).strict(),
  positional: ["id", "to"],
  result: z.object({
    id: z.string(),
    location: z.string().optional().describe("the clone's host, when it is another one"),
  }),
  timeoutMs: 180_000,
});

/** `agent.multicast`: one message to many agents. */
export const agentMulticast = defineMethod({
  name: "agent.multicast",
  summary:
    "Send one message to every active agent (optionally of one plugin) and collect every reply.",
  params: z.object({
    kind: z.string().min(1).max(128),
    args: Json.optional(),
    plugin: z.string().optional(),
    timeoutMs: z.number().int().min(1).max(600_000).optional(),
  }).strict(),
  positional: ["kind", "args"],
  result: z.object({
    replies: z.array(z.object({
      agentId: z.string(),
      ok: z.boolean(),
      value: Json.optional(),
      error: z.object({ code: z.string(), message: z.string() }).passthrough().optional(),
    })),
  }),
});
