import { z } from "zod";
import { defineMethod } from "../rpc/mod.ts";

const Name = z.string().min(1).max(64).describe("a capability name, like echo-py");

/** An installed capability as `capability.list` shows it. */
export const CapabilitySummarySchema = z.object({
  name: z.string(),
  version: z.string(),
  description: z.string(),
  environment: z.string().describe("conda, venv, system or deno"),
  resources: z.object({ ramMb: z.number(), vramMb: z.number(), gpu: z.boolean() }),
  concurrency: z.number().int(),
  methods: z.array(z.string()).describe("known once an instance has started, or from plugin.json"),
  instances: z.number().int().describe("instances running now"),
});

/** A running instance. */
export const CapabilityInstanceSchema = z.object({
  id: z.string(),
  capability: z.string(),
  configKey: z.string(),
  pid: z.number().int().describe("leader of its process group"),
  active: z.number().int().describe("calls running on it"),
  startedAt: z.string(),
  lastUsedAt: z.string(),
  startMs: z.number().describe("milliseconds from spawn to ready"),
  ramMb: z.number().describe("resident memory of its process group, MB"),
  peakRamMb: z.number(),
  vramMb: z.number(),
  peakVramMb: z.number(),
});

/** `capability.list`: installed capabilities. */
export const capabilityList = defineMethod({
  name: "capability.list",
  summary: "Installed capabilities (DATA_DIR/capabilities), with how many instances of each run.",
  params: z.object({}).strict(),
  result: z.object({
    capabilities: z.array(CapabilitySummarySchema),
    problems: z.record(z.string(), z.string()).describe(
      "dirs that are not valid capabilities, and why",
    ),
  }),
});

/** `capability.info`: one capability in full. */
export const capabilityInfo = defineMethod({
  name: "capability.info",
  summary: "One installed capability: its plugin.json, its dir and its running instances.",
  params: z.object({ name: Name }).strict(),
  positional: ["name"],
  result: CapabilitySummarySchema.extend({
    dir: z.string(),
    manifest: z.record(z.string(), z.unknown()),
    running: z.array(CapabilityInstanceSchema),
  }),
});

/** `capability.add`: install a capability from a plugin dir on the host's machine. */
export const capabilityAdd = defineMethod({
  name: "capability.add",
  summary:
    "Install the capability in a plugin dir on the host's machine (validated, copied through DATA_DIR/capabilities/.staging, renamed into place); running instances of an older copy are stopped.",
  params: z.object({ dir: z.string().min(1).max(4096).describe("an absolute path") }).strict(),
  positional: ["dir"],
  result: z.object({
    name: z.string(),
    version: z.string(),
    dir: z.string(),
    replaced: z.boolean().describe("whether an installed copy was replaced"),
  }),
  timeoutMs: 120_000,
});

/** `capability.remove`: uninstall a capability. */
export const capabilityRemove = defineMethod({
  name: "capability.remove",
  summary:
    "Stop every instance of a capability and remove its dir (its managed environment stays cached for reuse).",
  params: z.object({ name: Name }).strict(),
  positional: ["name"],
  result: z.object({ removed: z.boolean(), stopped: z.array(z.string()) }),
  timeoutMs: 60_000,
});

/** `capability.start`: start (or reuse) an instance. */
export const capabilityStart = defineMethod({
  name: "capability.start",
  summary:
    "A ready instance of a capability with a config: a running one with room, else a new one (its environment created first when needed).",
  params: z.object({
    name: Name,
    config: z.record(z.string(), z.unknown()).default({}).describe("the instance's config"),
  }).strict(),
  positional: ["name"],
  result: CapabilityInstanceSchema,
  timeoutMs: 3_600_000,
});

/** `capability.stop`: stop instances. */
export const capabilityStop = defineMethod({
  name: "capability.stop",
  summary:
    "Stop an instance by id, or every instance of a capability by name: shutdown call, then SIGTERM, then SIGKILL of its process group.",
  params: z.object({
    target: z.string().min(1).max(128).describe("an instance id or a capability name"),
  })
    .strict(),
  positional: ["target"],
  result: z.object({ stopped: z.array(z.string()) }),
  timeoutMs: 60_000,
});

/** `capability.instances`: running instances. */
export const capabilityInstances = defineMethod({
  name: "capability.instances",
  summary: "Every running instance, with its process group's memory now and at its peak.",
  params: z.object({ name: Name.optional() }).strict(),
  positional: ["name"],
  result: z.object({ instances: z.array(CapabilityInstanceSchema) }),
});

/** `capability.logs`: recent worker and environment output. */
export const capabilityLogs = defineMethod({
  name: "capability.logs",
  summary:
    "The last lines of a capability's newest diagnostics files (worker stdout/stderr and environment creation).",
  params: z.object({
    name: Name,
    lines: z.number().int().min(1).max(10_000).default(100),
    files: z.number().int().min(1).max(100).default(1).describe("how many of the newest files"),
  }).strict(),
  positional: ["name"],
  result: z.object({
    files: z.array(z.object({
      name: z.string(),
      size: z.number().int(),
      modifiedAt: z.string(),
      lines: z.array(z.string()),
    })),
  }),
});
