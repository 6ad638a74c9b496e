import type { z } from "zod";
import type { MeshHostSchema, MeshMemberSchema, MeshRecordSchema } from "../api/mod.ts";
import type { Member } from "./membership.ts";
import type { WireMember, WireMetrics } from "./packet.ts";
import type { Gpu, Metrics } from "./resources.ts";

/** A host's full record, as it states it itself. */
export type MeshRecord = z.infer<typeof MeshRecordSchema>;

/** A host of the mesh as `mesh.hosts` lists it. */
export type MeshHost = z.infer<typeof MeshHostSchema>;

/** A member as `mesh.sync` carries it. */
export type MeshMember = z.infer<typeof MeshMemberSchema>;

const STATES = { a: "alive", s: "suspect", d: "dead", l: "left" } as const;
const CODES = { alive: "a", suspect: "s", dead: "d", left: "l" } as const;

/** The HTTP form of a wire member. */
export function memberFromWire(w: WireMember): MeshMember {
  return {
    id: w.i,
    name: w.n,
    url: w.u,
    gossipPort: w.g,
    epoch: w.e,
    incarnation: w.c,
    state: STATES[w.s],
  };
}

/** The wire form of an HTTP member. */
export function memberToWire(m: MeshMember): WireMember {
  return {
    i: m.id,
    n: m.name,
    u: m.url,
    g: m.gossipPort,
    e: m.epoch,
    c: m.incarnation,
    s: CODES[m.state],
  };
}

/**
 * How a member looks in `mesh.hosts`: its gossip entry, its fetched record
 * and its latest load figures merged (figures from its packets are newer
 * than those in its record).
 */
export function hostView(member: Member, self: MeshRecord | null, now = Date.now()): MeshHost {
  const record = self ?? member.record;
  const metrics = member.metrics;
  let gpus: Gpu[] = record?.gpus ?? [];
  if (!self && metrics && gpus.length === metrics.g.length) {
    gpus = gpus.map((g, i) => ({ ...g, memoryFreeMb: metrics.g[i] }));
  }
  const lastSeen = self ? now : member.lastSeen;
  return {
    id: member.id,
    name: member.name,
    state: member.state,
    self: self !== null,
    url: member.url,
    urls: record?.urls ?? [member.url],
    version: record?.version ?? null,
    tags: record?.tags ?? [],
    properties: record?.properties ?? {},
    load: !self && metrics ? metrics.l : record?.load ?? null,
    freeRamMb: !self && metrics ? metrics.f : record?.freeRamMb ?? null,
    totalRamMb: !self && metrics ? metrics.t : record?.totalRamMb ?? null,
    gpus,
    epoch: member.epoch,
    incarnation: member.incarnation,
    gossip: `${member.observedHost ?? urlHost(member.url)}:${member.gossipPort}`,
    stateSince: new Date(member.stateSince).toISOString(),
    lastSeen: lastSeen === null ? null : new Date(lastSeen).toISOString(),
    lastSeenAgoMs: lastSeen === null ? null : Math.max(0, now - lastSeen),
  };
}

/** Load figures in their wire form. */
export function metricsToWire(m: Metrics): WireMetrics {
  return { l: m.load, f: m.freeRamMb, t: m.totalRamMb, g: m.gpus.map((g) => g.memoryFreeMb) };
}

/** The host part of a URL, without IPv6 brackets. */
export function urlHost(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, "");
  } catch {
    return url;
  }
}
