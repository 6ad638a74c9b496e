import type { Agent } from "./agent.ts";

/** One stop of a tour: the host to go to and the task to run there. */
export interface Stop {
  /** The host: its URL, or its name or id in the mesh. */
  to: string;
  /** The name of a task given to the {@linkcode Itinerary}. */
  task: string;
  /** The task's argument (plain JSON data). */
  args?: unknown;
}

/** What happened at one stop. */
export interface StopRecord {
  /** The stop, as written in the tour. */
  to: string;
  task: string;
  /** Whether the agent got there and the task returned. */
  ok: boolean;
  /** What the task returned. */
  value?: unknown;
  /** Why the stop failed: the move was refused or the task threw. */
  error?: { code: string; message: string };
  /** The host the task ran on. */
  host?: { id: string; name: string };
  /** When, ISO 8601. */
  at: string;
}

/** A tour as it is kept in the agent's state: it travels with the agent. */
export interface ItineraryState {
  stops: Stop[];
  /** Index of the stop the agent is going to or at. */
  next: number;
  /** Where the agent returns after the last stop (null: it stays there). */
  home: string | null;
  /** `touring` between stops, `returning` on the way home, `done` at the end. */
  phase: "touring" | "returning" | "done";
  records: StopRecord[];
}

/** A task run at a stop; what it returns is recorded (it must be plain JSON data). */
export type StopTask = (args: unknown, stop: Stop) => unknown | Promise<unknown>;

/** Options for {@linkcode Itinerary}. */
export interface ItineraryOptions {
  /** The key of the agent's state that holds the tour. Default `"itinerary"`. */
  key?: string;
  /** The tasks stops may name. */
  tasks: Record<string, StopTask>;
}

/**
 * A list of destinations with a task per stop, kept in the agent's state and
 * carried out with `ctx.dispatch` and `onArrival`: the agent goes to each
 * stop in turn, runs that stop's task, records what it returned, and comes
 * home after the last one. A stop it cannot reach is recorded as failed and
 * skipped. A stop at the host the agent is on runs without moving.
 *
 * @example
 * ```ts
 * import { Agent, Itinerary, type Message } from "@roam/agent";
 *
 * export default class Tourist extends Agent<Record<string, unknown>> {
 *   tour = new Itinerary(this, { tasks: { visit: () => ({ host: this.ctx.host.name }) } });
 *   override async handleMessage(msg: Message) {
 *     if (msg.kind === "tour") return await this.tour.start(msg.args as string[]);
 *     if (msg.kind === "records") return this.tour.state?.records;
 *     return super.handleMessage(msg);
 *   }
 *   override onArrival() { return this.tour.arrived(); }
 *   override onDispatchFailed(to: string, error: { code: string; message: string }) {
 *     return this.tour.failed(to, error);
 *   }
 * }
 * ```
 */
export class Itinerary {
  readonly #agent: Agent<unknown>;
  readonly #key: string;
  readonly #tasks: Record<string, StopTask>;

  /** Give `agent` a tour; nothing moves until {@linkcode Itinerary.start}. */
  // deno-lint-ignore no-explicit-any
  constructor(agent: Agent<any>, options: ItineraryOptions) {
    this.#agent = agent;
    this.#key = options.key ?? "itinerary";
    this.#tasks = options.tasks;
  }

  /** The tour in the agent's state, or undefined before the first start. */
  get state(): ItineraryState | undefined {
    return (this.#agent.state as Record<string, unknown> | undefined)?.[this.#key] as
      | ItineraryState
      | undefined;
  }

  /** Whether a tour has ended. */
  get done(): boolean {
    return this.state?.phase === "done";
  }

  /**
   * Start a tour of `stops` (host URLs or mesh host names, which run the task `"visit"`, or full
   * stops); the agent comes back to `home` (default: the host it is on now)
   * at the end. Call it from a message handler or `run()`; the first move
   * happens after the current message.
   */
  async start(stops: (string | Stop)[], options: { home?: string | null } = {}): Promise<void> {
    for (const stop of stops) {
      const task = typeof stop === "string" ? "visit" : stop.task;
      if (!this.#tasks[task]) throw new Error(`the itinerary has no task named "${task}"`);
    }
    const home = options.home === undefined ? this.#agent.ctx.host.url ?? null : options.home;
    (this.#agent.state as Record<string, unknown>)[this.#key] = {
      stops: stops.map((s) => typeof s === "string" ? { to: s, task: "visit" } : s),
      next: 0,
      home,
      phase: "touring",
      records: [],
    } satisfies ItineraryState;
    await this.#advance();
  }

  /** Call from `onArrival`: run this stop's task and go on. Returns false when no tour is under way. */
  async arrived(): Promise<boolean> {
    const tour = this.state;
    if (!tour || tour.phase === "done") return false;
    if (tour.phase === "returning") {
      tour.phase = "done";
      return true;
    }
    await this.#runStop(tour);
    await this.#advance();
    return true;
  }

  /** Call from `onDispatchFailed`: record the stop as failed and go on. Returns false when no tour is under way. */
  async failed(to: string, error: { code: string; message: string }): Promise<boolean> {
    const tour = this.state;
    if (!tour || tour.phase === "done") return false;
    if (tour.phase === "returning") {
      // The way home is shut: the tour ends here, with what it found.
      tour.records.push({ to, task: "home", ok: false, error, at: new Date().toISOString() });
      tour.phase = "done";
      return true;
    }
    const stop = tour.stops[tour.next];
    tour.records.push({
      // As the tour names it (a host name, say), not as the move resolved it.
      to: stop?.to ?? to,
      task: stop?.task ?? "visit",
      ok: false,
      error,
      at: new Date().toISOString(),
    });
    tour.next++;
    await this.#advance();
    return true;
  }

  async #runStop(tour: ItineraryState) {
    const stop = tour.stops[tour.next];
    const { id, name } = this.#agent.ctx.host;
    const record: StopRecord = {
      to: stop.to,
      task: stop.task,
      ok: true,
      host: { id, name },
      at: new Date().toISOString(),
    };
    try {
      const value = await this.#tasks[stop.task](stop.args ?? null, stop);
      if (value !== undefined) record.value = value;
    } catch (error) {
      record.ok = false;
      record.error = {
        code: (error as { code?: string }).code ?? "agent_error",
        message: error instanceof Error ? error.message : String(error),
      };
    }
    tour.records.push(record);
    tour.next++;
  }

  /** Run the stops that are here, then move to the next one elsewhere, or home, or end. */
  async #advance() {
    const tour = this.state!;
    while (tour.next < tour.stops.length && this.#isHere(tour.stops[tour.next].to)) {
      await this.#runStop(tour);
    }
    if (tour.next < tour.stops.length) {
      await this.#agent.ctx.dispatch(tour.stops[tour.next].to);
    } else if (tour.home && !this.#isHere(tour.home)) {
      tour.phase = "returning";
      await this.#agent.ctx.dispatch(tour.home);
    } else {
      tour.phase = "done";
    }
  }

  /** Whether `to` (a host URL, or a host name or id of the mesh) is the host the agent is on. */
  #isHere(to: string): boolean {
    const { url: here, name, id } = this.#agent.ctx.host;
    if (to === name || to === id) return true;
    if (!here) return false;
    try {
      // Origin and path: a host behind a relay lives at HUB/relay/ID.
      const base = (url: string) => {
        const u = new URL(url);
        return u.origin + u.pathname.replace(/\/+$/, "");
      };
      return base(to) === base(here);
    } catch {
      return false;
    }
  }
}
