import type { Migration } from "../migrate.ts";
import { core } from "./001_core.ts";
import { plugins } from "./002_plugins.ts";
import { agents } from "./003_agents.ts";
import { services } from "./004_services.ts";
import { mobility } from "./005_mobility.ts";
import { registry } from "./006_registry.ts"; // registry
import { memory } from "./007_memory.ts"; // memory: record index of local pools
import { capabilities } from "./008_capabilities.ts"; // capabilities
import { artifacts } from "./009_artifacts.ts"; // artifacts

/**
 * Every schema migration, in order. Append new ones at the end with the next
 * version; never edit one that has shipped.
 */
export const MIGRATIONS: readonly Migration[] = [
  core,
  plugins,
  agents,
  services,
  mobility,
  registry, // registry
  memory, // memory
  capabilities, // capabilities
  artifacts, // artifacts
];
