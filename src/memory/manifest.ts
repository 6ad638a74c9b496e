import { RoamError } from "../errors/mod.ts";
import { Entry } from "./entry.ts";
import { isGlobalId } from "./identity.ts";

/** A manifest's payload: named entry ids, nested. Leaves are ids or lists of ids. */
export type Blueprint = { [key: string]: string | string[] | Blueprint };

/** The same shape with entries (or ids) at the leaves: what a manifest is made from. */
export type EntryTree = { [key: string]: Entry | string | (Entry | string)[] | EntryTree };

/** The same shape with entries read back at the leaves. */
export type RecalledTree = { [key: string]: Entry | Entry[] | RecalledTree };

/** Deepest nesting of a blueprint. */
export const MAX_BLUEPRINT_DEPTH = 32;
/** Most leaf ids in one manifest. */
export const MAX_BLUEPRINT_LEAVES = 100_000;

/**
 * Split a tree into its blueprint (ids) and the entries at its leaves (to
 * memorize). Checks the shape: objects of string keys, leaves an Entry, an
 * id, or a list of them.
 */
export function blueprintOf(tree: EntryTree): { blueprint: Blueprint; entries: Entry[] } {
  const entries = new Map<string, Entry>();
  let count = 0;
  const leaf = (value: unknown, path: string): string => {
    if (++count > MAX_BLUEPRINT_LEAVES) {
      throw new RoamError("too_large", `a manifest holds at most ${MAX_BLUEPRINT_LEAVES} ids`);
    }
    if (value instanceof Entry) {
      entries.set(value.id, value);
      return value.id;
    }
    if (isGlobalId(value)) return value;
    throw new RoamError(
      "invalid_input",
      `manifest leaf ${path} is neither an entry nor an entry id (UUID:EVOLUTION)`,
      { path },
    );
  };
  const walk = (node: unknown, path: string, depth: number): Blueprint => {
    if (depth > MAX_BLUEPRINT_DEPTH) {
      throw new RoamError(
        "invalid_input",
        `a manifest is nested at most ${MAX_BLUEPRINT_DEPTH} deep`,
      );
    }
    if (node === null || typeof node !== "object" || Array.isArray(node) || node instanceof Entry) {
      throw new RoamError("invalid_input", `manifest node ${path || "(top)"} must be an object`, {
        path,
      });
    }
    const out: Blueprint = {};
    for (const [key, value] of Object.entries(node)) {
      const at = path ? `${path}.${key}` : key;
      if (Array.isArray(value)) out[key] = value.map((v, i) => leaf(v, `${at}[${i}]`));
      else if (value instanceof Entry || typeof value === "string") out[key] = leaf(value, at);
      else out[key] = walk(value, at, depth + 1);
    }
    return out;
  };
  const blueprint = walk(tree, "", 0);
  return { blueprint, entries: [...entries.values()] };
}

/** Check that stored data is a blueprint (ids at the leaves only). */
export function checkBlueprint(value: unknown): Blueprint {
  return blueprintOf(value as EntryTree).blueprint;
}

/** Every leaf id, depth-first in key order, each once. */
export function leafIds(blueprint: Blueprint): string[] {
  const out = new Set<string>();
  const walk = (node: Blueprint) => {
    for (const value of Object.values(node)) {
      if (typeof value === "string") out.add(value);
      else if (Array.isArray(value)) value.forEach((v) => out.add(v));
      else walk(value);
    }
  };
  walk(blueprint);
  return [...out];
}

/** The blueprint with each id replaced by its entry. */
export function fillBlueprint(
  blueprint: Blueprint,
  entries: ReadonlyMap<string, Entry>,
): RecalledTree {
  const get = (id: string) => entries.get(id)!;
  const walk = (node: Blueprint): RecalledTree => {
    const out: RecalledTree = {};
    for (const [key, value] of Object.entries(node)) {
      if (typeof value === "string") out[key] = get(value);
      else if (Array.isArray(value)) out[key] = value.map(get);
      else out[key] = walk(value);
    }
    return out;
  };
  return walk(blueprint);
}
