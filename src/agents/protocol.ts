import { z } from "zod";
import type { Message } from "./sdk/mod.ts";

/** Hooks the host asks a running agent to run (each answers with a state snapshot). */
export const HOOKS = [
  "onDispatching",
  "onArrival",
  "onReverting",
  "onCloning",
  "onCloned",
  "onDeactivating",
  "onDisposing",
  "onDispatchFailed",
] as const;

/** A hook the host can ask for. */
export type HookName = typeof HOOKS[number];

/** How an agent comes to life in a worker, which decides the hooks that run. */
export type StartMode = "create" | "activate" | "clone" | "restart" | "arrive";

/** Host to worker: start the agent. */
export interface InitCommand {
  op: "init";
  code: string;
  id: string;
  /** The host it runs on; `url` is the one other hosts reach it at. */
  host: { id: string; name: string; url?: string };
  plugin: { name: string; version: string; sha256: string };
  mode: StartMode;
  /** The state to start from; null for a new agent without one (its `initialState()` is used). */
  state: unknown;
  init?: unknown;
  /** For a clone: the original's id. For an arrival: the source host. */
  origin?: string;
  storage: { scratchDir: string; dir: string };
}

/** Host to worker messages. */
export type ToWorker =
  | InitCommand
  | { op: "call"; callId: number; message: Message }
  | { op: "hook"; callId: number; hook: HookName; arg?: unknown }
  | { op: "response"; reqId: number; ok: true; value: unknown }
  | { op: "response"; reqId: number; ok: false; error: WireError };

/** An error as it crosses the worker boundary. */
export const WireErrorSchema = z.object({
  code: z.string().max(64),
  message: z.string().max(4096),
  data: z.record(z.string(), z.unknown()).optional(),
});

/** An error as it crosses the worker boundary. */
export type WireError = z.infer<typeof WireErrorSchema>;

/** Methods an agent may ask its host for (through `ctx`). */
export const REQUEST_METHODS = [
  "send",
  "multicast",
  "create",
  "dispose",
  "deactivate",
  "clone",
  "dispatch",
  "services.advertise",
  "services.withdraw",
  "services.lookup",
  "services.call",
  "storage.put",
  "storage.get",
  "storage.delete",
  "storage.list",
  "log",
  "capability.call", // capabilities (jobs)
  "files.put",
  "files.get",
  "files.list",
  "files.delete",
] as const;

/** Worker to host messages; validated, since agent code shares the worker's global scope. */
export const FromWorkerSchema = z.discriminatedUnion("op", [
  z.object({ op: z.literal("ready"), state: z.unknown() }),
  z.object({ op: z.literal("failed"), error: WireErrorSchema }),
  z.object({
    op: z.literal("reply"),
    callId: z.number().int(),
    ok: z.boolean(),
    value: z.unknown().optional(),
    error: WireErrorSchema.optional(),
    state: z.unknown().optional(),
    stateChanged: z.boolean().optional(),
  }),
  z.object({
    op: z.literal("request"),
    reqId: z.number().int(),
    method: z.enum(REQUEST_METHODS),
    params: z.record(z.string(), z.unknown()),
  }),
  z.object({ op: z.literal("run_error"), error: WireErrorSchema }),
  z.object({ op: z.literal("state"), state: z.unknown() }),
]);

/** A validated worker to host message. */
export type FromWorker = z.infer<typeof FromWorkerSchema>;

/** Host to runner process commands (one JSON object per line on its stdin). */
export type ToRunner =
  | { t: "spawn"; a: string; permissions: Deno.PermissionOptionsObject }
  | { t: "post"; a: string; m: ToWorker }
  | { t: "kill"; a: string };

/** Runner process to host (one JSON object per line on its stdout). */
export const FromRunnerSchema = z.discriminatedUnion("t", [
  z.object({ t: z.literal("ready"), pid: z.number().int() }),
  z.object({ t: z.literal("msg"), a: z.string(), m: z.unknown() }),
  z.object({ t: z.literal("exited"), a: z.string(), reason: z.string() }),
]);

/** A validated runner to host message. */
export type FromRunner = z.infer<typeof FromRunnerSchema>;
