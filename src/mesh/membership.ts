import type { WireMember, WireMetrics } from "./packet.ts";
import type { MeshRecord } from "./record.ts";

/** How a member stands: answering, suspected, declared dead, or gone by its own word. */
export type MemberState = "alive" | "suspect" | "dead" | "left";

const FROM_WIRE: Record<WireMember["s"], MemberState> = {
  a: "alive",
  s: "suspect",
  d: "dead",
  l: "left",
};
const TO_WIRE: Record<MemberState, WireMember["s"]> = {
  alive: "a",
  suspect: "s",
  dead: "d",
  left: "l",
};

/** One host as this host knows it. */
export interface Member {
  /** Stable host id. */
  id: string;
  name: string;
  /** Primary URL (a LAN address when it has one). */
  url: string;
  /** Unicast gossip port. */
  gossipPort: number;
  /** Which start of the host this is. */
  epoch: number;
  /** Incarnation within that start. */
  incarnation: number;
  state: MemberState;
  /** When it entered its state, ms since the epoch. */
  stateSince: number;
  /** When a packet or call from it last arrived, ms since the epoch; null if never directly. */
  lastSeen: number | null;
  /** The address its packets come from, when that is a usable unicast address. */
  observedHost?: string;
  /** Its latest load figures, from its own packets. */
  metrics?: WireMetrics;
  /** Its full record, fetched over HTTP for its current incarnation. */
  record?: MeshRecord;
}

/** What {@linkcode Membership.apply} changed. */
export interface Transition {
  /** The member after the change. */
  member: Member;
  /** Its state before, or null when it was not known. */
  previous: MemberState | null;
  /** True when it came back with a newer epoch (it restarted). */
  restarted: boolean;
}

/** Order two (epoch, incarnation) pairs: negative, zero or positive. */
export function compareIncarnation(
  a: { epoch: number; incarnation: number },
  b: { epoch: number; incarnation: number },
): number {
  return a.epoch - b.epoch || a.incarnation - b.incarnation;
}

/**
 * Whether news about a member overrides what is known, by SWIM's rules
 * extended with the epoch: a newer incarnation always wins; at the same
 * incarnation, suspect beats alive, dead beats both, and left beats dead.
 * Nothing but a newer incarnation brings a dead or departed member back.
 */
export function supersedes(
  incoming: { state: MemberState; epoch: number; incarnation: number },
  current: { state: MemberState; epoch: number; incarnation: number } | undefined,
): boolean {
  if (!current) return incoming.state === "alive";
  const order = compareIncarnation(incoming, current);
  if (order !== 0) return order > 0;
  return RANK[incoming.state] > RANK[current.state];
}

const RANK: Record<MemberState, number> = { alive: 0, suspect: 1, dead: 2, left: 3 };

/** Options for {@linkcode Membership}. */
export interface MembershipOptions {
  /** Most members, self included. */
  maxMembers: number;
}

/**
 * The member table: every host this host knows, with its state. All remote
 * news goes through {@linkcode Membership.apply}, which applies SWIM's
 * precedence; the caller turns the transitions it returns into events,
 * timers and gossip.
 */
export class Membership {
  readonly #members = new Map<string, Member>();
  readonly #maxMembers: number;
  readonly selfId: string;

  /** A table holding only `self`. */
  constructor(self: Member, options: MembershipOptions) {
    this.selfId = self.id;
    this.#maxMembers = options.maxMembers;
    this.#members.set(self.id, self);
  }

  /** This host's own entry. */
  get self(): Member {
    return this.#members.get(this.selfId)!;
  }

  /** A member by id. */
  get(id: string): Member | undefined {
    return this.#members.get(id);
  }

  /** Every member, self first. */
  list(): Member[] {
    return [...this.#members.values()];
  }

  /** Members other than self that are alive or suspected: the ones to probe and gossip with. */
  live(): Member[] {
    return this.list().filter((m) =>
      m.id !== this.selfId && (m.state === "alive" || m.state === "suspect")
    );
  }

  /** How many members there are, self included. */
  get size(): number {
    return this.#members.size;
  }

  /**
   * Apply news about a member. Returns the transition when it changed the
   * member's state or incarnation, null when it was old news, and "full"
   * when it is about an unknown member and the table is full. News about
   * self is never applied here.
   */
  apply(update: WireMember, now = Date.now()): Transition | null | "full" {
    if (update.i === this.selfId) return null;
    const incoming = {
      state: FROM_WIRE[update.s],
      epoch: update.e,
      incarnation: update.c,
    };
    const current = this.#members.get(update.i);
    if (!supersedes(incoming, current)) return null;
    if (!current && this.#members.size >= this.#maxMembers) return "full";
    const restarted = !!current && update.e > current.epoch;
    const member: Member = current ?? {
      id: update.i,
      name: update.n,
      url: update.u,
      gossipPort: update.g,
      epoch: update.e,
      incarnation: update.c,
      state: incoming.state,
      stateSince: now,
      lastSeen: null,
    };
    const previous = current?.state ?? null;
    member.name = update.n;
    member.url = update.u;
    member.gossipPort = update.g;
    member.epoch = update.e;
    member.incarnation = update.c;
    if (member.state !== incoming.state || !current) member.stateSince = now;
    member.state = incoming.state;
    if (restarted) {
      delete member.record;
      delete member.metrics;
      delete member.observedHost;
    }
    this.#members.set(member.id, member);
    return { member, previous, restarted };
  }

  /** Drop members dead or departed for longer than `retainMs`; returns their ids. */
  prune(retainMs: number, now = Date.now()): string[] {
    const removed: string[] = [];
    for (const m of this.#members.values()) {
      if ((m.state === "dead" || m.state === "left") && now - m.stateSince > retainMs) {
        this.#members.delete(m.id);
        removed.push(m.id);
      }
    }
    return removed;
  }
}

/** A member as gossip carries it, optionally in another state. */
export function toWire(member: Member, state: MemberState = member.state): WireMember {
  return {
    i: member.id,
    n: member.name,
    u: member.url,
    g: member.gossipPort,
    e: member.epoch,
    c: member.incarnation,
    s: TO_WIRE[state],
  };
}

/** The state a wire code stands for. */
export function stateOf(update: WireMember): MemberState {
  return FROM_WIRE[update.s];
}
