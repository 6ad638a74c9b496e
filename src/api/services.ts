import { z } from "zod";
import { defineMethod } from "../rpc/mod.ts";

const Name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, {
  message: "must be 1 to 128 of A-Z a-z 0-9 . _ : - starting with a letter or digit",
}).describe("a service or operation name");
const Json = z.unknown().describe("plain JSON data");
const ContractRef = z.object({
  name: Name,
  version: z.string().min(1).max(64),
  operations: z.array(Name).min(1).max(64),
}).describe("a typed contract: its name, version and operation names");

/** A service record, with how a resident service stands. */
export const ServiceListingSchema = z.object({
  name: z.string(),
  agentId: z.string().describe("the agent that serves it (fixed for a resident service)"),
  capabilities: z.array(z.string()).describe("operation names; empty means any"),
  version: z.string(),
  expiresAt: z.string().nullable().describe("when the advertisement lapses; null for never"),
  metadata: z.record(z.string(), z.unknown()),
  resident: z.object({
    plugin: z.string(),
    idleMs: z.number().int(),
    status: z.enum(["not_started", "active", "inactive", "crashed"]),
  }).optional().describe("set for a resident service"),
});

/** `service.list`: the live services of this host. */
export const serviceList = defineMethod({
  name: "service.list",
  summary:
    "Live services of this host (advertised by agents, or declared resident), optionally by name, capability or contract.",
  params: z.object({
    name: Name.optional(),
    capability: Name.optional(),
    contract: ContractRef.optional(),
  }).strict(),
  positional: ["name"],
  result: z.object({ services: z.array(ServiceListingSchema) }),
});

/** `service.declare`: a resident service. */
export const serviceDeclare = defineMethod({
  name: "service.declare",
  summary:
    "Declare a resident service: advertised at once under a fixed agent id; its agent starts on the first call and sleeps after idleMs without calls.",
  params: z.object({
    name: Name,
    plugin: z.string().min(1).max(64).describe("the installed plugin whose agent serves it"),
    capabilities: z.array(Name).max(64).optional(),
    version: z.string().min(1).max(64).optional(),
    idleMs: z.number().int().min(10).max(2_592_000_000).optional().describe(
      "stop the agent after this long without calls (default 30 000)",
    ),
    state: Json.optional().describe("the agent's first state; default its initialState()"),
    metadata: z.record(z.string(), z.unknown()).optional(),
    contract: ContractRef.optional(),
  }).strict(),
  positional: ["name", "plugin"],
  result: ServiceListingSchema,
  timeoutMs: 60_000,
});

/** `service.undeclare`: remove a resident service. */
export const serviceUndeclare = defineMethod({
  name: "service.undeclare",
  summary: "Remove a resident service declaration and dispose of its agent.",
  params: z.object({ name: Name }).strict(),
  positional: ["name"],
  result: z.object({ ok: z.literal(true), removed: z.boolean() }),
  timeoutMs: 60_000,
});

/** `service.call`: call an operation of a service. */
export const serviceCall = defineMethod({
  name: "service.call",
  summary:
    "Call an operation on the first live service of that name (starting a resident service's agent when it sleeps); returns the reply.",
  params: z.object({
    name: Name,
    operation: Name,
    args: Json.optional(),
    priority: z.number().int().min(0).max(10).optional(),
    timeoutMs: z.number().int().min(1).max(3_600_000).optional().describe(
      "how long the handler may run; past it the agent is stopped as hung",
    ),
    contract: ContractRef.optional().describe("only services of exactly this contract"),
  }).strict(),
  positional: ["name", "operation", "args"],
  result: z.object({ agentId: z.string(), reply: Json }),
  timeoutMs: 3_600_000,
});
