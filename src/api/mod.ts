/**
 * The contracts of every RPC method roam serves: names, summaries and zod
 * schemas for params and results. Servers implement them; clients are typed
 * from them. Nothing here runs anything.
 *
 * @module
 */
import type { z } from "zod";
import { hostHealth, hostInfo } from "./host.ts";
import { eventsSince, eventsSubscribe, eventsUnsubscribe } from "./events.ts";
import { rpcDiscover } from "./discover.ts";
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
} from "./agents.ts";
import {
  agentCommit,
  agentDispatch,
  agentReceive,
  agentRetract,
  agentSettle,
  pluginBundle,
} from "./mobility.ts";
import {
  pluginAdd,
  pluginGrant,
  pluginInfo,
  pluginList,
  pluginRemove,
  pluginRevoke,
} from "./plugins.ts";
import { serviceCall, serviceDeclare, serviceList, serviceUndeclare } from "./services.ts";
import { meshHosts, meshRecord, meshRotate, meshStats, meshSync, meshWait } from "./mesh.ts";
// registry: installs from plugin registry indexes.
import {
  registryInfo,
  registryInstall,
  registryInstalled,
  registryProgress,
  registryRemove,
  registrySearch,
  registryUpdate,
} from "./registry.ts";
export {
  InstallRecordSchema,
  REGISTRY_INSTALL_TIMEOUT_MS,
  registryInfo,
  registryInstall,
  registryInstalled,
  RegistryPluginSchema,
  registryProgress,
  registryRemove,
  registrySearch,
  registryUpdate,
} from "./registry.ts";
// memory: entries, manifests, pools and the configuration snapshot.
import {
  configExport,
  memoryCopy,
  memoryEvolutions,
  memoryForget,
  memoryList,
  memoryManifestGet,
  memoryManifestPut,
  memoryMemorize,
  memoryPools,
  memoryRecordDelete,
  memoryRecordGet,
  memoryRecordLink,
  memoryRecordList,
  memoryRemember,
} from "./memory.ts";
// capabilities (runtime): begin
import {
  capabilityAdd,
  capabilityInfo,
  capabilityInstances,
  capabilityList,
  capabilityLogs,
  capabilityRemove,
  capabilityStart,
  capabilityStop,
} from "./capabilities.ts";
export {
  capabilityAdd,
  capabilityInfo,
  capabilityInstances,
  CapabilityInstanceSchema,
  capabilityList,
  capabilityLogs,
  capabilityRemove,
  capabilityStart,
  capabilityStop,
  CapabilitySummarySchema,
} from "./capabilities.ts";
// capabilities (runtime): end
// jobs (queue): begin
import {
  capabilityCall,
  jobCancel,
  jobCapacity,
  jobGet,
  jobList,
  jobResources,
  jobSubmit,
  jobWait,
} from "./jobs.ts";
export {
  capabilityCall,
  JOB_PROGRESS_NOTIFICATION,
  jobCancel,
  jobCapacity,
  JobErrorSchema,
  jobGet,
  jobList,
  jobResources,
  JobSchema,
  jobSubmit,
  jobWait,
  JournalEntrySchema,
} from "./jobs.ts";
// jobs (queue): end
// artifacts: the content-addressed blob store and its mesh operations.
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
} from "./artifacts.ts";
export {
  artifactFetch,
  artifactGc,
  ArtifactInfoSchema,
  artifactList,
  artifactLocate,
  artifactPin,
  ArtifactPinSchema,
  artifactRemove,
  artifactReplicate,
  artifactStat,
  artifactUnpin,
} from "./artifacts.ts";

export { BindSchema, hostHealth, hostInfo } from "./host.ts";
export {
  EVENT_NOTIFICATION,
  EventNotificationSchema,
  EventSchema,
  eventsSince,
  eventsSubscribe,
  eventsUnsubscribe,
  type RoamEvent,
} from "./events.ts";
export { MethodDescriptionSchema, rpcDiscover } from "./discover.ts";
export {
  MAX_PLUGIN_CODE_CHARS,
  PermissionListsSchema,
  pluginAdd,
  pluginGrant,
  pluginInfo,
  pluginList,
  pluginRemove,
  pluginRevoke,
  PluginSummarySchema,
} from "./plugins.ts";

export {
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
  AgentSummarySchema,
  PlacedHostSchema,
  PlacementSchema,
} from "./agents.ts";
export {
  agentCommit,
  agentDispatch,
  agentReceive,
  agentRetract,
  agentSettle,
  pluginBundle,
} from "./mobility.ts";
export {
  serviceCall,
  serviceDeclare,
  serviceList,
  ServiceListingSchema,
  serviceUndeclare,
} from "./services.ts";
export {
  GpuSchema,
  meshHosts,
  MeshHostSchema,
  MeshMemberSchema,
  meshRecord,
  MeshRecordSchema,
  meshRotate,
  meshStats,
  MeshStatsSchema,
  meshSync,
  meshWait,
} from "./mesh.ts";

// memory
export {
  configExport,
  memoryCopy,
  memoryEvolutions,
  memoryForget,
  memoryList,
  memoryManifestGet,
  memoryManifestPut,
  memoryMemorize,
  memoryPools,
  memoryRecordDelete,
  memoryRecordGet,
  memoryRecordLink,
  memoryRecordList,
  memoryRemember,
  PoolSummarySchema,
  WireBlueprintSchema,
  WireEntrySchema,
  WireRefSchema,
  WireValueSchema,
} from "./memory.ts";

/** The contracts by name, as a type. */
export type Api = {
  "host.health": typeof hostHealth;
  "host.info": typeof hostInfo;
  "events.since": typeof eventsSince;
  "events.subscribe": typeof eventsSubscribe;
  "events.unsubscribe": typeof eventsUnsubscribe;
  "rpc.discover": typeof rpcDiscover;
  "plugin.add": typeof pluginAdd;
  "plugin.list": typeof pluginList;
  "plugin.info": typeof pluginInfo;
  "plugin.grant": typeof pluginGrant;
  "plugin.revoke": typeof pluginRevoke;
  "plugin.remove": typeof pluginRemove;
  "agent.create": typeof agentCreate;
  "agent.send": typeof agentSend;
  "agent.list": typeof agentList;
  "agent.get": typeof agentGet;
  "agent.deactivate": typeof agentDeactivate;
  "agent.activate": typeof agentActivate;
  "agent.dispose": typeof agentDispose;
  "agent.restart": typeof agentRestart;
  "agent.clone": typeof agentClone;
  "agent.multicast": typeof agentMulticast;
  "agent.dispatch": typeof agentDispatch;
  "agent.retract": typeof agentRetract;
  "agent.receive": typeof agentReceive;
  "agent.commit": typeof agentCommit;
  "agent.settle": typeof agentSettle;
  "plugin.bundle": typeof pluginBundle;
  "service.list": typeof serviceList;
  "service.declare": typeof serviceDeclare;
  "service.undeclare": typeof serviceUndeclare;
  "service.call": typeof serviceCall;
  "mesh.hosts": typeof meshHosts;
  "mesh.wait": typeof meshWait;
  "mesh.stats": typeof meshStats;
  "mesh.record": typeof meshRecord;
  "mesh.sync": typeof meshSync;
  "mesh.rotate": typeof meshRotate;
  // registry
  "registry.search": typeof registrySearch;
  "registry.info": typeof registryInfo;
  "registry.install": typeof registryInstall;
  "registry.update": typeof registryUpdate;
  "registry.remove": typeof registryRemove;
  "registry.installed": typeof registryInstalled;
  "registry.progress": typeof registryProgress;
  // memory
  "memory.memorize": typeof memoryMemorize;
  "memory.remember": typeof memoryRemember;
  "memory.forget": typeof memoryForget;
  "memory.evolutions": typeof memoryEvolutions;
  "memory.list": typeof memoryList;
  "memory.manifestPut": typeof memoryManifestPut;
  "memory.manifestGet": typeof memoryManifestGet;
  "memory.pools": typeof memoryPools;
  "memory.copy": typeof memoryCopy;
  "memory.recordGet": typeof memoryRecordGet;
  "memory.recordLink": typeof memoryRecordLink;
  "memory.recordDelete": typeof memoryRecordDelete;
  "memory.recordList": typeof memoryRecordList;
  "config.export": typeof configExport;
  "capability.list": typeof capabilityList; // capabilities (runtime)
  "capability.info": typeof capabilityInfo; // capabilities (runtime)
  "capability.add": typeof capabilityAdd; // capabilities (runtime)
  "capability.remove": typeof capabilityRemove; // capabilities (runtime)
  "capability.start": typeof capabilityStart; // capabilities (runtime)
  "capability.stop": typeof capabilityStop; // capabilities (runtime)
  "capability.instances": typeof capabilityInstances; // capabilities (runtime)
  "capability.logs": typeof capabilityLogs; // capabilities (runtime)
  "job.submit": typeof jobSubmit; // jobs (queue)
  "job.get": typeof jobGet; // jobs (queue)
  "job.wait": typeof jobWait; // jobs (queue)
  "job.cancel": typeof jobCancel; // jobs (queue)
  "job.list": typeof jobList; // jobs (queue)
  "job.capacity": typeof jobCapacity; // jobs (queue)
  "job.resources": typeof jobResources; // jobs (queue)
  "capability.call": typeof capabilityCall; // jobs (queue)
  // artifacts
  "artifact.list": typeof artifactList;
  "artifact.stat": typeof artifactStat;
  "artifact.remove": typeof artifactRemove;
  "artifact.pin": typeof artifactPin;
  "artifact.unpin": typeof artifactUnpin;
  "artifact.gc": typeof artifactGc;
  "artifact.locate": typeof artifactLocate;
  "artifact.fetch": typeof artifactFetch;
  "artifact.replicate": typeof artifactReplicate;
};

/** Every method contract, keyed by method name. */
export const API: Api = {
  "host.health": hostHealth,
  "host.info": hostInfo,
  "events.since": eventsSince,
  "events.subscribe": eventsSubscribe,
  "events.unsubscribe": eventsUnsubscribe,
  "rpc.discover": rpcDiscover,
  "plugin.add": pluginAdd,
  "plugin.list": pluginList,
  "plugin.info": pluginInfo,
  "plugin.grant": pluginGrant,
  "plugin.revoke": pluginRevoke,
  "plugin.remove": pluginRemove,
  "agent.create": agentCreate,
  "agent.send": agentSend,
  "agent.list": agentList,
  "agent.get": agentGet,
  "agent.deactivate": agentDeactivate,
  "agent.activate": agentActivate,
  "agent.dispose": agentDispose,
  "agent.restart": agentRestart,
  "agent.clone": agentClone,
  "agent.multicast": agentMulticast,
  "agent.dispatch": agentDispatch,
  "agent.retract": agentRetract,
  "agent.receive": agentReceive,
  "agent.commit": agentCommit,
  "agent.settle": agentSettle,
  "plugin.bundle": pluginBundle,
  "service.list": serviceList,
  "service.declare": serviceDeclare,
  "service.undeclare": serviceUndeclare,
  "service.call": serviceCall,
  "mesh.hosts": meshHosts,
  "mesh.wait": meshWait,
  "mesh.stats": meshStats,
  "mesh.record": meshRecord,
  "mesh.sync": meshSync,
  "mesh.rotate": meshRotate,
  // registry
  "registry.search": registrySearch,
  "registry.info": registryInfo,
  "registry.install": registryInstall,
  "registry.update": registryUpdate,
  "registry.remove": registryRemove,
  "registry.installed": registryInstalled,
  "registry.progress": registryProgress,
  // memory
  "memory.memorize": memoryMemorize,
  "memory.remember": memoryRemember,
  "memory.forget": memoryForget,
  "memory.evolutions": memoryEvolutions,
  "memory.list": memoryList,
  "memory.manifestPut": memoryManifestPut,
  "memory.manifestGet": memoryManifestGet,
  "memory.pools": memoryPools,
  "memory.copy": memoryCopy,
  "memory.recordGet": memoryRecordGet,
  "memory.recordLink": memoryRecordLink,
  "memory.recordDelete": memoryRecordDelete,
  "memory.recordList": memoryRecordList,
  "config.export": configExport,
  "capability.list": capabilityList, // capabilities (runtime)
  "capability.info": capabilityInfo, // capabilities (runtime)
  "capability.add": capabilityAdd, // capabilities (runtime)
  "capability.remove": capabilityRemove, // capabilities (runtime)
  "capability.start": capabilityStart, // capabilities (runtime)
  "capability.stop": capabilityStop, // capabilities (runtime)
  "capability.instances": capabilityInstances, // capabilities (runtime)
  "capability.logs": capabilityLogs, // capabilities (runtime)
  "job.submit": jobSubmit, // jobs (queue)
  "job.get": jobGet, // jobs (queue)
  "job.wait": jobWait, // jobs (queue)
  "job.cancel": jobCancel, // jobs (queue)
  "job.list": jobList, // jobs (queue)
  "job.capacity": jobCapacity, // jobs (queue)
  "job.resources": jobResources, // jobs (queue)
  "capability.call": capabilityCall, // jobs (queue)
  // artifacts
  "artifact.list": artifactList,
  "artifact.stat": artifactStat,
  "artifact.remove": artifactRemove,
  "artifact.pin": artifactPin,
  "artifact.unpin": artifactUnpin,
  "artifact.gc": artifactGc,
  "artifact.locate": artifactLocate,
  "artifact.fetch": artifactFetch,
  "artifact.replicate": artifactReplicate,
};

/** The name of a method roam serves. */
export type MethodName = keyof Api;

/** What a caller passes to a method (defaults may be left out). */
export type ParamsOf<M extends MethodName> = z.input<Api[M]["params"]>;

/** What a method returns. */
export type ResultOf<M extends MethodName> = z.output<Api[M]["result"]>;
