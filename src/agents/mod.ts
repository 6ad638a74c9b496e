/**
 * Agents: plugins that run in permission-scoped workers inside runner
 * processes with a heap budget, with mailboxes, durable sleep and wake,
 * cloning, crash containment and restart from the last good state, and
 * moves between hosts (dispatch, clone, retract) handed off exactly once.
 *
 * The SDK that agent code imports is `./sdk/mod.ts` (`@roam/agent`).
 *
 * @module
 */
export {
  type AgentCapabilities, // capabilities (jobs)
  AgentManager,
  type AgentManagerOptions,
  type AgentPlugin,
  type AgentServices,
  type AgentSummary,
  type AgentTravel,
  type FrozenAgent,
  MAX_FORWARD_HOPS,
  type PluginSource,
  type SendOutcome,
  type SendRequest,
} from "./manager.ts";
export { agentMethods } from "./methods.ts";
export {
  AgentMobility,
  type AgentMobilityOptions,
  type MobilityFaults,
  type Moved,
  type PlacedHost,
  type PlaceHost,
  type Placement,
  type ResolveHost,
} from "./mobility.ts";
export { mobilityMethods } from "./mobility_methods.ts";
export {
  type Envelope,
  ENVELOPE_VERSION,
  EnvelopeSchema,
  MAX_ENVELOPE_MESSAGES,
} from "./envelope.ts";
export {
  type ResidentDeclaration,
  type ServiceAgents,
  type ServiceListing,
  ServiceRegistry,
  type ServiceRegistryOptions,
} from "./services.ts";
export { serviceMethods } from "./service_methods.ts";
export { AgentStorage, type AgentStorageOptions } from "./storage.ts";
export { pluginSource } from "./plugin_source.ts";
export { assertNoCodeLoading } from "./code_check.ts";
export { InlineRunner, type Runner, RunnerPool, RunnerProcess } from "./sandbox.ts";
export { WORKER_MODULE } from "./runner/main.ts";
export { DEFAULT_PRIORITY, MAX_PRIORITY, UNQUEUED } from "./mailbox.ts";
export type { Policy } from "./records.ts";
