// @ts-types="npm:@types/semver@7.7.1"
import semver from "semver";
import { RoamError } from "../errors/mod.ts";
import type { IndexPlugin, IndexVersion } from "./format.ts";

/**
 * Check a version range (`1.2.3`, `^1.2`, `~1.4.0`, `>=2 <3`, `*`).
 *
 * @throws {RoamError} `invalid_input` when it is not a semver range.
 */
export function checkRange(range: string): string {
  if (range.length > 256 || semver.validRange(range) === null) {
    throw new RoamError(
      "invalid_input",
      `"${range}" is not a version range; use a version (1.2.0) or a range such as ^1.2, ~1.4.0 or >=2 <3`,
      { range },
    );
  }
  return range;
}

/** Whether a plugin version runs on `roamVersion` (its `minRoam` is not newer). */
export function runsOn(version: IndexVersion, roamVersion: string): boolean {
  return !semver.gt(version.minRoam, roamVersion);
}

/**
 * The newest version of `plugin` in `range` that runs on `roamVersion`.
 *
 * @throws {RoamError} `not_found` when no version is in the range; `unsupported` when
 * every version in it needs a newer roam.
 */
export function pickVersion(plugin: IndexPlugin, range: string, roamVersion: string): IndexVersion {
  checkRange(range);
  const inRange = plugin.versions.filter((v) => semver.satisfies(v.version, range));
  if (inRange.length === 0) {
    throw new RoamError(
      "not_found",
      `no version of ${plugin.name} matches ${range}; it has ${describe(plugin.versions)}`,
      { name: plugin.name, range, versions: plugin.versions.map((v) => v.version) },
    );
  }
  const fitting = inRange.filter((v) => runsOn(v, roamVersion));
  if (fitting.length === 0) {
    const newest = newestOf(inRange);
    const older = newestOf(plugin.versions.filter((v) => runsOn(v, roamVersion)));
    throw new RoamError(
      "unsupported",
      `${plugin.name} ${newest.version} needs roam ${newest.minRoam} or newer; this host runs roam ${roamVersion}: upgrade roam on this host${
        older ? `, or install ${plugin.name}@${older.version}, the newest that runs here` : ""
      }`,
      { name: plugin.name, version: newest.version, minRoam: newest.minRoam, roam: roamVersion },
    );
  }
  return newestOf(fitting);
}

/** The newest version in `range` that needs a newer roam than `roamVersion`, if any is newer than `current`. */
export function heldBack(
  plugin: IndexPlugin,
  range: string,
  roamVersion: string,
  current: string,
): IndexVersion | undefined {
  const newer = plugin.versions.filter((v) =>
    semver.satisfies(v.version, range) && semver.gt(v.version, current) && !runsOn(v, roamVersion)
  );
  return newer.length ? newestOf(newer) : undefined;
}

/** Compare two versions by semver precedence. */
export function compareSemver(a: string, b: string): number {
  return semver.compare(a, b);
}

function newestOf(versions: IndexVersion[]): IndexVersion {
  return [...versions].sort((a, b) => semver.rcompare(a.version, b.version))[0];
}

function describe(versions: IndexVersion[]): string {
  const list = versions.map((v) => v.version).sort(semver.rcompare);
  return list.length > 8
    ? `${list.slice(0, 8).join(", ")} and ${list.length - 8} more`
    : list.join(", ");
}
