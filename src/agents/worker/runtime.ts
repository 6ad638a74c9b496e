/**
 * The fixed worker module every agent runs in. It receives the agent's
 * bundle as text, evaluates it (never by dynamic import: a compiled roam
 * binary cannot import modules it did not embed), and runs the agent's hooks
 * and messages on the host's behalf. The worker's permissions are the agent's
 * grants and nothing more.
 *
 * @module
 */
import * as sdk from "../sdk/mod.ts";
import type { AgentContext, FutureReply, SendOptions } from "../sdk/mod.ts";
import type { FromWorker, InitCommand, ToWorker, WireError } from "../protocol.ts";

type AgentClass = (new () => sdk.Agent<unknown>) & { schema?: sdk.StateSchema<unknown> };

// The worker's global scope (typed by hand: this module is checked with the window types).
const scope = self as unknown as {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
};
const post = (message: FromWorker) => scope.postMessage(message);
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
let nextReq = 1;
let agent: sdk.Agent<unknown> | undefined;
let schema: sdk.StateSchema<unknown> | undefined;
let lastSent = "";
let selfId = "";

function toWire(error: unknown): WireError {
  if (error instanceof sdk.AgentError) {
    return { code: error.code, message: error.message, data: error.data };
  }
  if (error instanceof sdk.SerializationError) {
    return { code: "serialization", message: error.message, data: { path: error.path } };
  }
  if (error instanceof Error) {
    const denied = error.name === "NotCapable" || error.name === "PermissionDenied";
    return {
      code: denied ? "forbidden" : "agent_error",
      message: `${error.name}: ${error.message}`,
    };
  }
  return { code: "agent_error", message: String(error) };
}

function request(method: string, params: Record<string, unknown>): Promise<unknown> {
  const reqId = nextReq++;
  return new Promise((resolve, reject) => {
    pending.set(reqId, { resolve, reject });
    post({ op: "request", reqId, method: method as never, params });
  });
}

/** The state, checked: JSON-safe, and valid against the agent's schema when it has one. */
function snapshot(): unknown {
  sdk.assertJsonSafe(agent!.state);
  return schema ? schema.parse(agent!.state) : agent!.state;
}

/** The state when it changed since the last one sent, else undefined. */
function changedState(): { state?: unknown; stateChanged: boolean } {
  const state = snapshot();
  const text = JSON.stringify(state);
  if (text === lastSent) return { stateChanged: false };
  lastSent = text;
  return { state, stateChanged: true };
}

function makeContext(init: InitCommand): AgentContext {
  const timers = new Map<number, ReturnType<typeof setTimeout>>();
  let nextTimer = 1;
  const send = (to: string, kind: string, args: unknown, options: SendOptions, oneway: boolean) => {
    if (args !== undefined) sdk.assertJsonSafe(args, "args");
    return request("send", { to, kind, args: args ?? null, oneway, ...options });
  };
  return {
    id: init.id,
    host: init.host,
    plugin: { name: init.plugin.name, version: init.plugin.version },
    send: (to, kind, args, options = {}) => send(to, kind, args, options, false),
    sendOneway: async (to, kind, args, options = {}) => {
      await send(to, kind, args, options, true);
    },
    sendFuture<T>(
      to: string,
      kind: string,
      args?: unknown,
      options: SendOptions = {},
    ): FutureReply<T> {
      let available = false;
      const promise = send(to, kind, args, options, false).finally(() =>
        available = true
      ) as Promise<T>;
      promise.catch(() => {}); // the caller collects the error with get()
      return {
        get isAvailable() {
          return available;
        },
        get: () => promise,
      };
    },
    multicast: async (kind, args, options = {}) =>
      new sdk.ReplySet(
        (await request("multicast", { kind, args: args ?? null, ...options })) as sdk.Reply[],
      ),
    create: async (plugin, options = {}) =>
      (await request("create", { plugin, ...options })) as string,
    dispose: async (id) => {
      await request("dispose", { id: id ?? init.id });
    },
    deactivate: async (policy = {}) => {
      await request("deactivate", { ...policy });
    },
    clone: async (to) => (await request("clone", to === undefined ? {} : { to })) as string,
    dispatch: async (to) => {
      await request("dispatch", { to: String(to) });
    },
    services: {
      advertise: async (service) => (await request("services.advertise", { ...service })) as never,
      withdraw: async (name) => {
        await request("services.withdraw", { name });
      },
      lookup: async (query) => (await request("services.lookup", { ...query })) as never,
      call: (name, operation, args, options = {}) =>
        request("services.call", { name, operation, args: args ?? null, ...options }),
    },
    // capabilities (jobs): a call through the host's job queue.
    capability: (name) => ({
      call: (method, args, options = {}) =>
        request("capability.call", {
          capability: String(name),
          method: String(method),
          args: args ?? null,
          ...options,
        }),
    }),
    files: {
      put: async (name, data) => {
        const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
        return await request("files.put", { name, data: bytes.toBase64() }) as never;
      },
      get: async (name) => {
        const value = await request("files.get", { name });
        return value === null ? null : Uint8Array.fromBase64(value as string);
      },
      list: async () => await request("files.list", {}) as never,
      delete: async (name) => await request("files.delete", { name }) as boolean,
    },
    storage: {
      scratchDir: init.storage.scratchDir,
      dir: init.storage.dir,
      put: async (key, value) => {
        const bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
        await request("storage.put", { key, value: bytes.toBase64() });
      },
      get: async (key) => {
        const value = await request("storage.get", { key });
        return value === null ? null : Uint8Array.fromBase64(value as string);
      },
      delete: async (key) => {
        await request("storage.delete", { key });
      },
      list: async () => (await request("storage.list", {})) as string[],
    },
    timers: {
      after(ms, kind, args) {
        const id = nextTimer++;
        timers.set(
          id,
          setTimeout(() => {
            timers.delete(id);
            send(selfId, kind, args, {}, true).catch(() => {});
          }, ms),
        );
        return id;
      },
      every(ms, kind, args) {
        const id = nextTimer++;
        timers.set(id, setInterval(() => send(selfId, kind, args, {}, true).catch(() => {}), ms));
        return id;
      },
      cancel(id) {
        clearTimeout(timers.get(id));
        clearInterval(timers.get(id));
        timers.delete(id);
      },
    },
    log: (...parts) => {
      request("log", {
        message: parts.map((p) => typeof p === "string" ? p : JSON.stringify(p)).join(" "),
      })
        .catch(() => {});
    },
  };
}

// Taken before any agent code runs: sealCodeLoading replaces the global Function.
const RealFunction = Function;
const evaluate = (code: string) =>
  new RealFunction("module", "exports", "require", code) as (
    module: unknown,
    exports: unknown,
    require: unknown,
  ) => void;

/**
 * Before the bundle is evaluated, take away every way for agent code to load
 * more code: code from strings (eval, the Function constructors), nested
 * workers, and string timers. It runs before the bundle's top level does,
 * which could otherwise keep working copies of them for later. Dynamic
 * `import()` cannot be taken away at run time, and Deno does not enforce the
 * import permission in workers (denoland/deno#29503), so bundles that
 * contain it are refused before they get here (see `assertNoCodeLoading`),
 * and with no code from strings it cannot be built at run time either.
 */
function sealCodeLoading() {
  // A plain function, so that `new Worker(...)` gets this error too, not "not a constructor".
  const refuse = (what: string) =>
    function () {
      throw new sdk.AgentError("forbidden", `agents may not use ${what}`);
    };
  const constructors = [
    Function,
    Object.getPrototypeOf(async function () {}).constructor,
    Object.getPrototypeOf(function* () {}).constructor,
    Object.getPrototypeOf(async function* () {}).constructor,
  ];
  for (const ctor of constructors) {
    Object.defineProperty(ctor.prototype, "constructor", {
      value: refuse("the Function constructor"),
    });
  }
  Object.defineProperty(globalThis, "Function", { value: refuse("the Function constructor") });
  Object.defineProperty(globalThis, "eval", { value: refuse("eval") });
  Object.defineProperty(globalThis, "Worker", { value: refuse("nested workers") });
  const timers = { setTimeout, setInterval };
  for (const [name, original] of Object.entries(timers)) {
    Object.defineProperty(globalThis, name, {
      value: (fn: unknown, ...rest: unknown[]) => {
        if (typeof fn !== "function") refuse(`${name} with a string`)();
        return (original as (...a: unknown[]) => unknown)(fn, ...rest);
      },
    });
  }
}

async function load(init: InitCommand): Promise<void> {
  const exports: Record<string, unknown> = {};
  const module = { exports };
  let zod: unknown;
  if (init.code.includes('require("zod")')) zod = await import("zod");
  const require = (specifier: string): unknown => {
    if (specifier === "@roam/agent") return sdk;
    if (specifier === "zod" && zod) return zod;
    throw new sdk.AgentError(
      "invalid_input",
      `agent code may not require "${specifier}"; bundle it into the plugin (only @roam/agent and zod are provided)`,
    );
  };
  const run = evaluate(init.code);
  sealCodeLoading();
  run(module, exports, require);
  const found = [module.exports.default, ...Object.values(module.exports)].find(
    (value): value is AgentClass =>
      typeof value === "function" && value.prototype instanceof sdk.Agent,
  );
  if (!found) {
    throw new sdk.AgentError(
      "invalid_input",
      `plugin ${init.plugin.name} exports no class that extends Agent`,
    );
  }
  selfId = init.id;
  schema = found.schema;
  agent = new found();
  agent.ctx = makeContext(init);
  agent.state = init.state ?? agent.initialState();
  switch (init.mode) {
    case "create":
      await agent.onCreation(init.init);
      break;
    case "activate":
    case "restart":
      await agent.onActivation();
      break;
    case "clone":
      await agent.onClone(init.origin ?? "");
      break;
    case "arrive":
      await agent.onArrival(init.origin ?? "");
      break;
  }
  const state = snapshot();
  lastSent = JSON.stringify(state);
  post({ op: "ready", state });
  Promise.resolve().then(() => agent!.run()).then(
    () => {
      // What run() changed becomes the last good state too.
      const changed = changedState();
      if (changed.stateChanged) post({ op: "state", state: changed.state });
    },
    (error) => post({ op: "run_error", error: toWire(error) }),
  );
}

async function handle(command: ToWorker): Promise<void> {
  switch (command.op) {
    case "init":
      try {
        await load(command);
      } catch (error) {
        post({ op: "failed", error: toWire(error) });
      }
      return;
    case "call":
      try {
        const value = await agent!.handleMessage(command.message);
        if (value !== undefined) sdk.assertJsonSafe(value, "reply");
        post({
          op: "reply",
          callId: command.callId,
          ok: true,
          value: value ?? null,
          ...changedState(),
        });
      } catch (error) {
        let state: { state?: unknown; stateChanged: boolean } = { stateChanged: false };
        try {
          state = changedState();
        } catch {
          // A state that fails its snapshot is rolled back to the last good one.
          agent!.state = JSON.parse(lastSent);
        }
        post({ op: "reply", callId: command.callId, ok: false, error: toWire(error), ...state });
      }
      return;
    case "hook":
      try {
        if (command.hook === "onDispatchFailed") {
          const { to, error } = command.arg as { to: string; error: WireError };
          await agent!.onDispatchFailed(to, { code: error.code, message: error.message });
        } else {
          // deno-lint-ignore no-explicit-any
          await (agent as any)[command.hook](command.arg);
        }
        const state = snapshot();
        lastSent = JSON.stringify(state);
        post({
          op: "reply",
          callId: command.callId,
          ok: true,
          value: null,
          state,
          stateChanged: true,
        });
      } catch (error) {
        post({ op: "reply", callId: command.callId, ok: false, error: toWire(error) });
      }
      return;
    case "response": {
      const waiter = pending.get(command.reqId);
      if (!waiter) return;
      pending.delete(command.reqId);
      if (command.ok) waiter.resolve(command.value);
      else {waiter.reject(
          new sdk.AgentError(command.error.code, command.error.message, command.error.data),
        );}
      return;
    }
  }
}

scope.onmessage = (event: MessageEvent<ToWorker>) => {
  handle(event.data);
};
