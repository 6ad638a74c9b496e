import type { AgentContext, Message } from "./context.ts";
import { NotHandled } from "./errors.ts";

/** Anything with a zod-like `parse`: the optional schema of an agent's state. */
export interface StateSchema<S> {
  /** Return the value when valid; throw otherwise. */
  parse(value: unknown): S;
}

/**
 * The base class of every roam agent. An agent is its class plus an
 * explicit, JSON-safe `state`; only the state survives sleep, moves and
 * restarts. Override the hooks you need (they run in the Aglets order) and
 * `handleMessage`.
 *
 * @example
 * ```ts
 * import { Agent, type Message } from "@roam/agent";
 * export default class Counter extends Agent<{ count: number }> {
 *   override initialState() { return { count: 0 }; }
 *   override handleMessage(msg: Message) {
 *     if (msg.kind === "increment") return ++this.state.count;
 *     return super.handleMessage(msg);
 *   }
 * }
 * ```
 */
export abstract class Agent<S = Record<string, unknown>> {
  /** Optional schema the state must pass at every snapshot (a zod schema, for example). */
  static schema?: StateSchema<unknown>;

  /** The agent's state: plain JSON data. */
  state!: S;

  /** What the agent can do; set by the host before any hook runs. */
  ctx!: AgentContext;

  /** The state of a new agent when `agent.create` gives none. */
  initialState(): S {
    return {} as S;
  }

  /** Once, when the agent is created (not on clone, arrival or activation). */
  onCreation(_init: unknown): void | Promise<void> {}
  /** At the source, before the state is captured for a move. */
  onDispatching(_to: string): void | Promise<void> {}
  /** At the target, after a move, before `run`. */
  onArrival(_from: string): void | Promise<void> {}
  /** Here, after a move this agent asked for (`ctx.dispatch`) failed; it stays on this host. */
  onDispatchFailed(
    _to: string,
    _error: { code: string; message: string },
  ): void | Promise<void> {}
  /** After creation, arrival, activation or cloning: the agent's own long-running work, if any. */
  run(): void | Promise<void> {}
  /** At the agent's host, before it is pulled back to another host. */
  onReverting(_to: string): void | Promise<void> {}
  /** On the original, before the state is copied for a clone. */
  onCloning(): void | Promise<void> {}
  /** On the clone, before `run`. */
  onClone(_originalId: string): void | Promise<void> {}
  /** On the original, after the clone exists. */
  onCloned(_cloneId: string): void | Promise<void> {}
  /** Before the agent goes to sleep. */
  onDeactivating(): void | Promise<void> {}
  /** After the agent wakes, before `run`. */
  onActivation(): void | Promise<void> {}
  /** Before the agent is disposed of for good. */
  onDisposing(): void | Promise<void> {}

  /** Answer a message; the return value is the reply. Unknown kinds throw {@linkcode NotHandled}. */
  handleMessage(msg: Message): unknown | Promise<unknown> {
    throw new NotHandled(msg.kind);
  }
}
