/**
 * The agent SDK: what an agent plugin imports (as `@roam/agent`). It runs
 * inside the agent's worker; nothing here touches the host.
 *
 * @module
 */
export { Agent, type StateSchema } from "./agent.ts";
export type {
  AgentContext,
  AgentFileInfo,
  CapabilityApi, // capabilities (jobs)
  CapabilityCallOptions, // capabilities (jobs)
  DeactivationPolicy,
  FilesApi,
  FutureReply,
  Message,
  SendOptions,
  ServiceRecord,
  ServicesApi,
  StorageApi,
  TimersApi,
} from "./context.ts";
export { AgentError, type AgentErrorCode, NotHandled } from "./errors.ts";
export {
  Itinerary,
  type ItineraryOptions,
  type ItineraryState,
  type Stop,
  type StopRecord,
  type StopTask,
} from "./itinerary.ts";
export { type Reply, ReplySet } from "./reply_set.ts";
export {
  type ContractHandlers,
  type ContractRef,
  type ContractSchema,
  defineServiceContract,
  type OperationSpec,
  type ReplyOf,
  type RequestOf,
  type ServiceContract,
} from "./service.ts";
export { assertJsonSafe, MAX_STATE_DEPTH, SerializationError } from "./snapshot.ts";
