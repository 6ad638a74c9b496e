/** The version of roam this tree builds; hosts report it and clients compare it. */
export const ROAM_VERSION = "0.1.0";

/** The Deno version roam is pinned to (see README and `.ci/run`). */
export const DENO_VERSION = "2.9.6";
