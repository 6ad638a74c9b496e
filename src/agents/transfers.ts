import type { DatabaseSync, StatementSync } from "node:sqlite";
import { type Envelope, EnvelopeSchema } from "./envelope.ts";
import { transaction } from "../store/transaction.ts";

/** A move this host started and has not settled. */
export interface Departure {
  transferId: string;
  agentId: string;
  kind: Envelope["kind"];
  /** The target host's URL. */
  target: string;
  /** `departing`: sent, outcome unknown; `committed`: the target has it, the local copy is going. */
  phase: "departing" | "committed";
  envelope: Envelope;
}

/** An envelope this host received. */
export interface Arrival {
  transferId: string;
  agentId: string;
  /** `stored`: acknowledged, not started yet; `started`: running here; `aborted`: refused for good. */
  phase: "stored" | "started" | "aborted";
  /** The envelope, while stored. */
  envelope: Envelope | null;
  source: string | null;
  updatedAt: number;
}

/** Where an agent went (a forwarding tombstone). */
export interface Location {
  agentId: string;
  url: string;
  epoch: number;
  transferId: string;
  movedAt: number;
}

/** How far an agent here has travelled. */
export interface Travel {
  epoch: number;
  hops: number;
  origin: string;
}

/** Options for {@linkcode Transfers}. */
export interface TransfersOptions {
  /** How long a tombstone points at an agent's new host. */
  tombstoneTtlMs: number;
  /** Most tombstones kept; the oldest go first. */
  maxTombstones: number;
  /** How long a settled arrival is remembered (to answer repeats). */
  arrivalTtlMs: number;
  /** Most settled arrivals remembered; the oldest go first. */
  maxArrivals: number;
}

type DepartureRow = {
  transfer_id: string;
  agent_id: string;
  kind: string;
  target: string;
  phase: string;
  envelope: string;
};
type ArrivalRow = {
  transfer_id: string;
  agent_id: string;
  phase: string;
  envelope: string | null;
  source: string | null;
  updated_at: number;
};

/**
 * The durable side of moving agents, in the host's SQLite database. Each
 * method is one synchronous statement or transaction, so that a check and
 * the write that depends on it cannot be split by another call.
 */
export class Transfers {
  readonly #db: DatabaseSync;
  readonly #o: TransfersOptions;
  readonly #sql: Record<string, StatementSync>;

  /** Use `db` (with the `005_mobility` migration applied). */
  constructor(db: DatabaseSync, options: TransfersOptions) {
    this.#db = db;
    this.#o = options;
    this.#sql = {
      depart: db.prepare(
        `INSERT INTO agent_departures (transfer_id, agent_id, kind, target, phase, envelope, created_at, updated_at)
         VALUES (?, ?, ?, ?, 'departing', ?, ?, ?)`,
      ),
      departure: db.prepare("SELECT * FROM agent_departures WHERE transfer_id = ?"),
      departures: db.prepare("SELECT * FROM agent_departures ORDER BY created_at"),
      departing: db.prepare("SELECT 1 FROM agent_departures WHERE agent_id = ? LIMIT 1"),
      commit: db.prepare(
        "UPDATE agent_departures SET phase = 'committed', updated_at = ? WHERE transfer_id = ?",
      ),
      forgetDeparture: db.prepare("DELETE FROM agent_departures WHERE transfer_id = ?"),
      arrival: db.prepare("SELECT * FROM agent_arrivals WHERE transfer_id = ?"),
      pendingArrival: db.prepare(
        "SELECT * FROM agent_arrivals WHERE agent_id = ? AND phase = 'stored' ORDER BY created_at LIMIT 1",
      ),
      storedArrivals: db.prepare(
        "SELECT * FROM agent_arrivals WHERE phase = 'stored' ORDER BY created_at",
      ),
      store: db.prepare(
        `INSERT INTO agent_arrivals (transfer_id, agent_id, phase, envelope, source, created_at, updated_at)
         VALUES (?, ?, 'stored', ?, ?, ?, ?)`,
      ),
      abortArrival: db.prepare(
        `INSERT INTO agent_arrivals (transfer_id, agent_id, phase, envelope, source, created_at, updated_at)
         VALUES (?, '', 'aborted', NULL, NULL, ?, ?)`,
      ),
      started: db.prepare(
        "UPDATE agent_arrivals SET phase = 'started', envelope = NULL, updated_at = ? WHERE transfer_id = ?",
      ),
      location: db.prepare("SELECT * FROM agent_locations WHERE agent_id = ?"),
      setLocation: db.prepare(
        `INSERT INTO agent_locations (agent_id, url, epoch, transfer_id, moved_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (agent_id) DO UPDATE SET url = excluded.url, epoch = excluded.epoch,
           transfer_id = excluded.transfer_id, moved_at = excluded.moved_at, expires_at = excluded.expires_at`,
      ),
      dropLocation: db.prepare("DELETE FROM agent_locations WHERE agent_id = ?"),
      travel: db.prepare("SELECT epoch, hops, origin FROM agent_travel WHERE agent_id = ?"),
      setTravel: db.prepare(
        `INSERT INTO agent_travel (agent_id, epoch, hops, origin) VALUES (?, ?, ?, ?)
         ON CONFLICT (agent_id) DO UPDATE SET epoch = excluded.epoch, hops = excluded.hops, origin = excluded.origin`,
      ),
      dropTravel: db.prepare("DELETE FROM agent_travel WHERE agent_id = ?"),
    };
  }

  // Departures -------------------------------------------------------------

  /** Record, before the envelope leaves, that an agent is departing. */
  depart(envelope: Envelope, target: string): void {
    const now = Date.now();
    this.#sql.depart.run(
      envelope.transferId,
      envelope.agent.id,
      envelope.kind,
      target,
      JSON.stringify(envelope),
      now,
      now,
    );
  }

  /** One departure. */
  departure(transferId: string): Departure | undefined {
    const row = this.#sql.departure.get(transferId) as DepartureRow | undefined;
    return row && toDeparture(row);
  }

  /** Every unsettled departure, oldest first. */
  departures(): Departure[] {
    return (this.#sql.departures.all() as DepartureRow[]).map(toDeparture);
  }

  /** Whether a move of this agent is unsettled (its local record must not come back to life). */
  isDeparting(agentId: string): boolean {
    return this.#sql.departing.get(agentId) !== undefined;
  }

  /**
   * The target has the agent: mark the departure committed and point the
   * agent's id at its new host, in one transaction.
   */
  commit(departure: { transferId: string; agentId: string; target: string; epoch: number }): void {
    const now = Date.now();
    this.#transaction(() => {
      this.#sql.commit.run(now, departure.transferId);
      this.#sql.setLocation.run(
        departure.agentId,
        departure.target,
        departure.epoch,
        departure.transferId,
        now,
        now + this.#o.tombstoneTtlMs,
      );
      this.#sql.dropTravel.run(departure.agentId);
    });
  }

  /** The departure is settled (the local copy is gone, or it stays): forget it. */
  forgetDeparture(transferId: string): void {
    this.#sql.forgetDeparture.run(transferId);
  }

  // Arrivals ---------------------------------------------------------------

  /** One arrival. */
  arrival(transferId: string): Arrival | undefined {
    const row = this.#sql.arrival.get(transferId) as ArrivalRow | undefined;
    return row && toArrival(row);
  }

  /** The phase of one arrival, without reading its envelope; undefined when there is none. */
  arrivalPhase(transferId: string): Arrival["phase"] | undefined {
    const row = this.#db.prepare("SELECT phase FROM agent_arrivals WHERE transfer_id = ?").get(
      transferId,
    ) as { phase: Arrival["phase"] } | undefined;
    return row?.phase;
  }

  /** A stored, not yet started arrival of this agent. */
  pendingArrival(agentId: string): Arrival | undefined {
    const row = this.#sql.pendingArrival.get(agentId) as ArrivalRow | undefined;
    return row && toArrival(row);
  }

  /** Every stored, not yet started arrival. */
  storedArrivals(): Arrival[] {
    return (this.#sql.storedArrivals.all() as ArrivalRow[]).map(toArrival);
  }

  /**
   * Keep a received envelope. Returns what happened: `stored`, or the phase
   * an earlier delivery of the same transfer left (`stored`, `started` or
   * `aborted`), checked and written in one step.
   */
  store(envelope: Envelope): { phase: Arrival["phase"]; duplicate: boolean } {
    const existing = this.arrivalPhase(envelope.transferId);
    if (existing) return { phase: existing, duplicate: true };
    const now = Date.now();
    this.#sql.store.run(
      envelope.transferId,
      envelope.agent.id,
      JSON.stringify(envelope),
      envelope.metadata.source.url,
      now,
      now,
    );
    return { phase: "stored", duplicate: false };
  }

  /**
   * The source asks how a transfer ended. A transfer this host holds is
   * `accepted`; one it never stored is fenced off (`aborted`, for good), so
   * that a delivery still on its way is refused when it arrives.
   */
  settle(transferId: string): "accepted" | "aborted" {
    const existing = this.arrivalPhase(transferId);
    if (existing) return existing === "aborted" ? "aborted" : "accepted";
    const now = Date.now();
    this.#sql.abortArrival.run(transferId, now, now);
    return "aborted";
  }

  /** The arrival runs here now: drop its envelope and its tombstone, record its travel. */
  started(envelope: Envelope): void {
    this.#transaction(() => {
      this.#sql.started.run(Date.now(), envelope.transferId);
      this.#sql.dropLocation.run(envelope.agent.id);
      this.#sql.setTravel.run(
        envelope.agent.id,
        envelope.epoch,
        envelope.metadata.hops,
        envelope.metadata.origin,
      );
    });
  }

  // Locations and travel ---------------------------------------------------

  /** Where an agent that left this host went, unless the tombstone expired. */
  location(agentId: string): Location | undefined {
    const row = this.#sql.location.get(agentId) as {
      agent_id: string;
      url: string;
      epoch: number;
      transfer_id: string;
      moved_at: number;
      expires_at: number;
    } | undefined;
    if (!row || row.expires_at <= Date.now()) return undefined;
    return {
      agentId: row.agent_id,
      url: row.url,
      epoch: row.epoch,
      transferId: row.transfer_id,
      movedAt: row.moved_at,
    };
  }

  /** The latest epoch this host has seen of an agent that left it (0 when none). */
  lastEpoch(agentId: string): number {
    const row = this.#sql.location.get(agentId) as { epoch: number } | undefined;
    return row?.epoch ?? 0;
  }

  /** How far an agent that lives here has travelled; an agent that never moved starts here. */
  travel(agentId: string, here: string): Travel {
    const row = this.#sql.travel.get(agentId) as Travel | undefined;
    return row ? { epoch: row.epoch, hops: row.hops, origin: row.origin } : {
      epoch: 0,
      hops: 0,
      origin: here,
    };
  }

  /** Drop expired tombstones, old settled arrivals and travel rows of agents that are gone. */
  sweep(now = Date.now()): void {
    this.#transaction(() => {
      this.#db.prepare("DELETE FROM agent_locations WHERE expires_at <= ?").run(now);
      this.#db.prepare(
        `DELETE FROM agent_locations WHERE agent_id IN (
           SELECT agent_id FROM agent_locations ORDER BY moved_at DESC, rowid DESC LIMIT -1 OFFSET ?)`,
      ).run(this.#o.maxTombstones);
      this.#db.prepare(
        "DELETE FROM agent_arrivals WHERE phase != 'stored' AND updated_at <= ?",
      ).run(now - this.#o.arrivalTtlMs);
      this.#db.prepare(
        `DELETE FROM agent_arrivals WHERE transfer_id IN (
           SELECT transfer_id FROM agent_arrivals WHERE phase != 'stored'
           ORDER BY updated_at DESC, rowid DESC LIMIT -1 OFFSET ?)`,
      ).run(this.#o.maxArrivals);
      this.#db.prepare("DELETE FROM agent_travel WHERE agent_id NOT IN (SELECT id FROM agents)")
        .run();
    });
  }

  #transaction(fn: () => void) {
    transaction(this.#db, fn);
  }
}

function toDeparture(row: DepartureRow): Departure {
  return {
    transferId: row.transfer_id,
    agentId: row.agent_id,
    kind: row.kind as Departure["kind"],
    target: row.target,
    phase: row.phase as Departure["phase"],
    envelope: EnvelopeSchema.parse(JSON.parse(row.envelope)),
  };
}

function toArrival(row: ArrivalRow): Arrival {
  return {
    transferId: row.transfer_id,
    agentId: row.agent_id,
    phase: row.phase as Arrival["phase"],
    envelope: row.envelope ? EnvelopeSchema.parse(JSON.parse(row.envelope)) : null,
    source: row.source,
    updatedAt: row.updated_at,
  };
}
