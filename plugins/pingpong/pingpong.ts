/**
 * `pingpong`: two agents talking through their host. `start` finds a
 * partner (a new pingpong agent made with `ctx.create`, or the one named by
 * `peer`) and sends it `ping` messages with `ctx.send`; each `ping` is
 * answered with a pong. The reply of `start` is how many volleys were played
 * and the path the ball took, one agent id per hit.
 *
 * ```sh
 * roam plugin add plugins/pingpong
 * roam agent create pingpong            # prints its id, A
 * roam agent send A start '{"rounds":3}'
 * # {"count":3,"peer":"B","path":["A","B","A","B","A","B"]}
 * ```
 *
 * @module
 */
import { Agent, AgentError, type Message } from "@roam/agent";

/** Most rounds one `start` plays: every round is a message, and the mailbox and clock are finite. */
export const MAX_ROUNDS = 1000;

/** Arguments of `start`. */
export interface StartArgs {
  /** The agent to play with; a new pingpong agent is created when none is given. */
  peer?: string;
  /** How many volleys to play, 1 to {@linkcode MAX_ROUNDS}. */
  rounds: number;
}

/** The reply of `start`. */
export interface Rally {
  /** Volleys played: pings sent and answered. */
  count: number;
  /** The partner's id. */
  peer: string;
  /** Who hit the ball, in order: this agent, the peer, this agent, ... */
  path: string[];
}

/** The reply of `ping`. */
export interface Pong {
  kind: "pong";
  /** The volley it answers. */
  n: number;
  /** The agent that answered. */
  by: string;
}

/** The state of a pingpong agent. */
export interface PingPongState {
  /** Pings this agent sent. */
  served: number;
  /** Pings this agent answered. */
  returned: number;
  /** The last rally this agent started. */
  last: Rally | null;
}

/** Plays ping-pong with another agent of its kind. */
export default class PingPong extends Agent<PingPongState> {
  override initialState(): PingPongState {
    return { served: 0, returned: 0, last: null };
  }

  override async handleMessage(msg: Message): Promise<unknown> {
    switch (msg.kind) {
      case "start":
        return await this.#rally(parseStart(msg.args));
      case "ping": {
        this.state.returned++;
        const n = Number((msg.args as { n?: unknown } | null)?.n ?? 0);
        return { kind: "pong", n, by: this.ctx.id } satisfies Pong;
      }
      case "stats":
        return this.state;
      default:
        return super.handleMessage(msg);
    }
  }

  async #rally({ peer, rounds }: StartArgs): Promise<Rally> {
    if (peer === this.ctx.id) {
      throw new AgentError(
        "invalid_input",
        "a pingpong agent cannot play with itself; name another agent as peer, or leave peer out",
        { peer },
      );
    }
    const partner = peer ?? await this.ctx.create(this.ctx.plugin.name);
    const path: string[] = [];
    for (let n = 1; n <= rounds; n++) {
      path.push(this.ctx.id);
      const pong = await this.ctx.send(partner, "ping", { n }) as Pong;
      if (pong?.kind !== "pong" || pong.n !== n) {
        throw new AgentError(
          "invalid_input",
          `agent ${partner} did not answer ping ${n} with a pong; is it a pingpong agent?`,
          { peer: partner, n },
        );
      }
      path.push(pong.by);
      this.state.served++;
    }
    this.state.last = { count: rounds, peer: partner, path };
    return this.state.last;
  }
}

function parseStart(args: unknown): StartArgs {
  const { peer, rounds } = (args ?? {}) as Partial<StartArgs>;
  if (!Number.isInteger(rounds) || rounds! < 1 || rounds! > MAX_ROUNDS) {
    throw new AgentError(
      "invalid_input",
      `start needs rounds, a whole number from 1 to ${MAX_ROUNDS}, like {"rounds": 3}`,
      { rounds },
    );
  }
  if (peer !== undefined && typeof peer !== "string") {
    throw new AgentError("invalid_input", "peer must be an agent id (a string)", { peer });
  }
  return { peer, rounds: rounds! };
}
