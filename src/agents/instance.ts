import { RoamError } from "../errors/mod.ts";
import { deadlines } from "../rpc/mod.ts";
import { type Deliver, Mailbox } from "./mailbox.ts";
import {
  type FromWorker,
  FromWorkerSchema,
  type HookName,
  type InitCommand,
  type WireError,
} from "./protocol.ts";
import type { Runner, WorkerLink } from "./sandbox.ts";
import type { Message } from "./sdk/mod.ts";

/** What an instance asks of the agent manager. */
export interface InstanceHost {
  /** A `ctx` request from the agent. */
  request(
    instance: AgentInstance,
    method: string,
    params: Record<string, unknown>,
  ): Promise<unknown>;
  /** The instance died (crash, hang, out of memory). */
  crashed(instance: AgentInstance, reason: string): void;
  /** The state changed outside a message (after `run()`). */
  stateChanged(instance: AgentInstance): void;
  /** `run()` threw. */
  runFailed(instance: AgentInstance, error: WireError): void;
}

/** Options for {@linkcode AgentInstance.start}. */
export interface InstanceOptions {
  runner: Runner;
  permissions: Deno.PermissionOptionsObject;
  init: InitCommand;
  host: InstanceHost;
  mailboxCapacity: number;
  /** Longest wait for the agent's start-up hooks. */
  startTimeoutMs: number;
}

type Waiter = {
  resolve: (v: { value: unknown; state?: unknown }) => void;
  reject: (e: unknown) => void;
};

/**
 * One running agent: its worker (in a runner process), its mailbox, and its
 * last good state, which is what survives a crash.
 */
export class AgentInstance {
  readonly id: string;
  readonly runner: Runner;
  readonly mailbox: Mailbox;
  /** The state after the last message handled without a crash. */
  state: unknown;
  /** Messages and hooks in progress. */
  readonly inFlight = new Map<number, Waiter>();
  #link!: WorkerLink;
  #host: InstanceHost;
  #nextCall = 1;
  #dead: string | null = null;
  #startup?: Waiter;

  private constructor(options: InstanceOptions) {
    this.id = options.init.id;
    this.runner = options.runner;
    this.#host = options.host;
    this.state = options.init.state;
    const deliver: Deliver = (message, timeoutMs) => this.call(message, timeoutMs);
    this.mailbox = new Mailbox(deliver, { capacity: options.mailboxCapacity });
  }

  /** Start the agent's worker and run its start-up hooks; resolves once it is ready for messages. */
  static async start(options: InstanceOptions): Promise<AgentInstance> {
    const instance = new AgentInstance(options);
    const ready = new Promise<{ value: unknown; state?: unknown }>((resolve, reject) =>
      instance.#startup = { resolve, reject }
    );
    instance.#link = options.runner.spawn(instance.id, options.permissions, {
      onMessage: (m) => instance.#onMessage(m),
      onExit: (reason) => instance.#onExit(reason),
    });
    instance.#link.post(options.init);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        ready,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            reject(
              new RoamError(
                "timeout",
                `agent ${instance.id} did not start within ${options.startTimeoutMs} ms`,
                {},
              ),
            );
          }, options.startTimeoutMs);
        }),
      ]);
      return instance;
    } catch (error) {
      instance.kill("start-up failed");
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whether the worker is gone. */
  get dead(): boolean {
    return this.#dead !== null;
  }

  /**
   * Run one message in the worker. Past `timeoutMs` the agent is taken to be
   * hung: its worker is stopped and every waiting caller gets `crashed`.
   */
  async call(message: Message, timeoutMs: number): Promise<unknown> {
    const result = await this.#roundTrip(
      { op: "call", callId: 0, message },
      timeoutMs,
      `message "${message.kind}"`,
    );
    return result.value;
  }

  /** Run a lifecycle hook; resolves with the state after it. */
  async hook(hook: HookName, arg: unknown, timeoutMs: number): Promise<unknown> {
    const result = await this.#roundTrip({ op: "hook", callId: 0, hook, arg }, timeoutMs, hook);
    return result.state ?? this.state;
  }

  /** Answer a `ctx` request. */
  respond(
    reqId: number,
    outcome: { ok: true; value: unknown } | { ok: false; error: WireError },
  ): void {
    if (!this.#dead) this.#link.post({ op: "response", reqId, ...outcome });
  }

  /** Stop the worker now; waiting callers get `crashed` with `reason`. */
  kill(reason: string): void {
    if (this.#dead) return;
    // Failed first: the link's onExit (which fires inside kill) must not report a crash.
    this.#fail(reason);
    this.#link.kill();
  }

  #roundTrip(
    command: { op: "call"; callId: number; message: Message } | {
      op: "hook";
      callId: number;
      hook: HookName;
      arg?: unknown;
    },
    timeoutMs: number,
    what: string,
  ): Promise<{ value: unknown; state?: unknown }> {
    if (this.#dead) return Promise.reject(crashed(this.id, this.#dead));
    const callId = this.#nextCall++;
    const reply = new Promise<{ value: unknown; state?: unknown }>((resolve, reject) => {
      this.inFlight.set(callId, { resolve, reject });
      this.#link.post({ ...command, callId });
    });
    // One shared coarse timer watches every call (a timer per message costs more than the message).
    return deadlines.race(reply, timeoutMs, () => {
      const reason =
        `${what} ran past its ${timeoutMs} ms time limit; the agent was stopped as hung`;
      this.kill(reason);
      this.#host.crashed(this, reason);
      return crashed(this.id, reason);
    });
  }

  #onMessage(raw: unknown) {
    // The common case, a successful reply, is checked by hand: it is the hot path.
    const fast = raw as { op?: unknown; callId?: unknown; ok?: unknown; stateChanged?: unknown };
    if (
      fast?.op === "reply" && fast.ok === true && typeof fast.callId === "number" &&
      (fast.stateChanged === undefined || typeof fast.stateChanged === "boolean")
    ) {
      const reply = raw as {
        callId: number;
        value?: unknown;
        state?: unknown;
        stateChanged?: boolean;
      };
      const waiter = this.inFlight.get(reply.callId);
      if (!waiter) return;
      this.inFlight.delete(reply.callId);
      if (reply.stateChanged) this.state = reply.state;
      waiter.resolve({ value: reply.value ?? null, state: reply.state });
      return;
    }
    const parsed = FromWorkerSchema.safeParse(raw);
    if (!parsed.success) return; // agent code can post anything; only well-formed messages count
    const message: FromWorker = parsed.data;
    switch (message.op) {
      case "ready":
        // Set here, not after start() resumes: a "state" message from run() may
        // be read in the same chunk, before that continuation runs.
        this.state = message.state;
        this.#startup?.resolve({ value: null, state: message.state });
        this.#startup = undefined;
        return;
      case "failed":
        this.#startup?.reject(fromWire(message.error));
        this.#startup = undefined;
        return;
      case "reply": {
        const waiter = this.inFlight.get(message.callId);
        if (!waiter) return;
        this.inFlight.delete(message.callId);
        if (message.stateChanged) this.state = message.state;
        if (message.ok) waiter.resolve({ value: message.value ?? null, state: message.state });
        else {waiter.reject(
            fromWire(message.error ?? { code: "internal", message: "the agent failed" }),
          );}
        return;
      }
      case "request":
        this.#host.request(this, message.method, message.params).then(
          (value) => this.respond(message.reqId, { ok: true, value: value ?? null }),
          (error) => this.respond(message.reqId, { ok: false, error: toWire(error) }),
        );
        return;
      case "state":
        this.state = message.state;
        this.#host.stateChanged(this);
        return;
      case "run_error":
        this.#host.runFailed(this, message.error);
        return;
    }
  }

  #onExit(reason: string) {
    const wasDead = this.#dead !== null;
    this.#fail(reason);
    if (!wasDead) this.#host.crashed(this, reason);
  }

  #fail(reason: string) {
    if (this.#dead) return;
    this.#dead = reason;
    const error = crashed(this.id, reason);
    this.#startup?.reject(error);
    this.#startup = undefined;
    for (const waiter of this.inFlight.values()) waiter.reject(error);
    this.inFlight.clear();
    this.mailbox.fail(error);
  }
}

/** The `crashed` error every waiting caller of a dead agent gets. */
export function crashed(id: string, reason: string): RoamError {
  return new RoamError(
    "crashed",
    `agent ${id} crashed: ${reason}; restart it from its last good state with 'roam agent restart ${id}'`,
    { id, reason },
  );
}

/** An error from the worker as a RoamError; codes roam does not know become `agent_error` data. */
export function fromWire(error: WireError): RoamError {
  const known = [
    "not_handled",
    "serialization",
    "forbidden",
    "invalid_input",
    "not_found",
    "timeout",
    "queue_full",
    "crashed",
    "quota_exceeded",
    "conflict",
    "unavailable",
    "too_large",
    "unsupported",
    "inactive",
    "moved",
  ];
  const code = known.includes(error.code) ? error.code : "agent_error";
  return new RoamError(code as never, error.message, {
    ...(error.data ?? {}),
    ...(code === "agent_error" ? { agentCode: error.code } : {}),
  });
}

/** Any thrown value as a wire error for the worker. */
export function toWire(error: unknown): WireError {
  if (error instanceof RoamError) {
    return { code: error.code, message: error.message, data: error.data };
  }
  return { code: "internal", message: error instanceof Error ? error.message : String(error) };
}
