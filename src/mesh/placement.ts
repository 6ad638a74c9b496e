import type { z } from "zod";
import type { PlacementSchema } from "../api/mod.ts";
import { RoamError } from "../errors/mod.ts";
import type { MeshHost } from "./record.ts";

/** What a host must offer to take an agent: tags, free RAM, a GPU with free VRAM. */
export type Placement = z.infer<typeof PlacementSchema>;

/** Options for {@linkcode placeAgent}. */
export interface PlaceOptions {
  /** Ids of hosts that may not be chosen, with why (the host an agent is leaving). */
  exclude?: Record<string, string>;
}

/** Why one host was not chosen. */
export interface Exclusion {
  host: string;
  /** The constraint that excluded it: `state`, `exclude`, `tags`, `minFreeRamMb` or `gpu`. */
  constraint: string;
  reason: string;
}

/**
 * The best host for an agent among `hosts` (a mesh's view, this host
 * included): alive, with every tag asked for, at least `minFreeRamMb` of
 * free RAM and a GPU with at least `gpu.minFreeVramMb` of free VRAM; among
 * those the one with the lowest 1-minute load, then the most free RAM, then
 * the first name. Throws `not_found` saying which constraint excluded which
 * host when none matches.
 *
 * @example
 * const host = placeAgent(mesh.hosts(), { tags: ["gpu"], gpu: { minFreeVramMb: 8000 } });
 */
export function placeAgent(
  hosts: readonly MeshHost[],
  placement: Placement,
  options: PlaceOptions = {},
): MeshHost {
  const excluded: Exclusion[] = [];
  const matching = hosts.filter((h) => {
    const why = exclusion(h, placement, options);
    if (why) excluded.push(why);
    return !why;
  });
  if (!matching.length) {
    throw new RoamError(
      "not_found",
      `no host matches ${describe(placement)}: ${
        excluded.length
          ? excluded.map((e) => `${e.host} ${e.reason}`).join("; ")
          : "the mesh is empty"
      }; see the hosts with 'roam hosts'`,
      { placement, excluded },
    );
  }
  return matching.sort(better)[0];
}

function exclusion(h: MeshHost, p: Placement, o: PlaceOptions): Exclusion | undefined {
  const no = (constraint: string, reason: string) => ({ host: h.name, constraint, reason });
  if (h.state !== "alive") return no("state", `is ${h.state}`);
  const why = o.exclude?.[h.id];
  if (why !== undefined) return no("exclude", why);
  const missing = (p.tags ?? []).filter((t) => !h.tags.includes(t));
  if (missing.length) {
    return no("tags", `lacks the tag${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`);
  }
  if (p.minFreeRamMb !== undefined) {
    if (h.freeRamMb === null) return no("minFreeRamMb", "has not stated its free RAM yet");
    if (h.freeRamMb < p.minFreeRamMb) {
      return no("minFreeRamMb", `has ${h.freeRamMb} MB of free RAM (under ${p.minFreeRamMb})`);
    }
  }
  if (p.gpu) {
    if (!h.gpus.length) return no("gpu", "has no GPU");
    const most = Math.max(...h.gpus.map((g) => g.memoryFreeMb));
    if (most < p.gpu.minFreeVramMb) {
      return no(
        "gpu",
        `has at most ${most} MB of free VRAM on a GPU (under ${p.gpu.minFreeVramMb})`,
      );
    }
  }
  return undefined;
}

function better(a: MeshHost, b: MeshHost): number {
  const load = (h: MeshHost) => h.load?.[0] ?? Infinity;
  const ram = (h: MeshHost) => h.freeRamMb ?? -1;
  return load(a) - load(b) || ram(b) - ram(a) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

function describe(p: Placement): string {
  const parts: string[] = [];
  if (p.tags?.length) parts.push(`tags ${p.tags.join(", ")}`);
  if (p.minFreeRamMb !== undefined) parts.push(`at least ${p.minFreeRamMb} MB of free RAM`);
  if (p.gpu) parts.push(`a GPU with at least ${p.gpu.minFreeVramMb} MB of free VRAM`);
  return parts.length ? `{${parts.join("; ")}}` : "{any alive host}";
}
