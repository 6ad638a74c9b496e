import { connect, type Roam } from "../client/mod.ts";
import type { Output } from "./output.ts";

/** The options every command accepts. */
export interface GlobalOptions {
  /** `--host URL` (or `$ROAM_HOST`). */
  host?: string;
  /** `--token TOKEN` (or `$ROAM_TOKEN`). */
  token?: string;
  /** `--json`: machine-readable output. */
  json?: boolean;
  /** `--data-dir`: where the local host keeps its secret and runtime file. */
  dataDir?: string;
}

/** What a command runs with. */
export interface CommandContext {
  /** Where to write. */
  io: Output;
  /** The global options. */
  global: () => GlobalOptions;
}

/** Connect to the host the global options name (or the local one). */
export async function client(ctx: CommandContext): Promise<Roam> {
  const g = ctx.global();
  return await connect({ url: g.host, token: g.token, dataDir: g.dataDir });
}

/** Print a value as JSON, two-space indented. */
export function printJson(ctx: CommandContext, value: unknown): void {
  ctx.io.out(JSON.stringify(value, null, 2));
}
