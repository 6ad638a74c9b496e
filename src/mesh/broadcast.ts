import { updateBytes, type WireMember } from "./packet.ts";

interface Item {
  update: WireMember;
  transmits: number;
}

/**
 * Membership updates waiting to ride along on outgoing packets. Each member
 * has at most one queued update (the newest news replaces the old); each is
 * sent a limited number of times, least-sent first, so news spreads in
 * O(log n) rounds of gossip and then stops costing bytes.
 */
export class BroadcastQueue {
  readonly #items = new Map<string, Item>();

  /** Queue news about a member, replacing any queued news about it. */
  enqueue(update: WireMember): void {
    this.#items.delete(update.i);
    this.#items.set(update.i, { update, transmits: 0 });
  }

  /**
   * Take the updates that fit in `budget` bytes, least-sent first, skipping
   * members in `skip`; each taken one counts a transmission and leaves the
   * queue after `limit` of them.
   */
  take(budget: number, limit: number, skip: ReadonlySet<string> = new Set()): WireMember[] {
    const items = [...this.#items.values()].sort((a, b) => a.transmits - b.transmits);
    const taken: WireMember[] = [];
    for (const item of items) {
      if (skip.has(item.update.i)) continue;
      const bytes = updateBytes(item.update);
      if (bytes > budget) continue;
      budget -= bytes;
      taken.push(item.update);
      if (++item.transmits >= limit) this.#items.delete(item.update.i);
      if (taken.length >= 32) break;
    }
    return taken;
  }

  /** Whether some update has not been sent at all yet. */
  hasFresh(): boolean {
    for (const item of this.#items.values()) if (item.transmits === 0) return true;
    return false;
  }

  /** Updates waiting. */
  get size(): number {
    return this.#items.size;
  }
}

/** How many times each update is sent in a mesh of `members` hosts: 3 × ⌈log2(n + 1)⌉. */
export function retransmitLimit(members: number): number {
  return 3 * Math.max(1, Math.ceil(Math.log2(members + 1)));
}
