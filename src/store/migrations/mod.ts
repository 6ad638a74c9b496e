import type { Migration } from "../migrate.ts";
import { core } from "./001_core.ts";

/**
 * Every schema migration, in order. Append new ones at the end with the next
 * version; never edit one that has shipped.
 */
export const MIGRATIONS: readonly Migration[] = [core];
