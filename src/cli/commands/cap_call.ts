import type { Command } from "commander";
import { client, type CommandContext, printJson } from "../context.ts";
import { jobOptions, submitParams } from "./jobs.ts";

/** `roam cap call NAME METHOD [ARGS]`: one call through the job queue, its result printed as JSON. */
export function capCallCommand(cap: Command, ctx: CommandContext): void {
  jobOptions(
    cap.command("call")
      .description(
        "call a method of a capability through the job queue and print its result as JSON",
      )
      .argument("<name>", "the capability name")
      .argument("<method>", "the method")
      .argument("[args]", "its arguments as JSON")
      .addHelpText(
        "after",
        `
Examples:
  roam cap call echo-py echo '{"text": "hi"}'
  roam cap call torch-matmul matmul '{"n": 4096}' --to gpu-box --timeout 5m`,
      ),
  ).action(async (name: string, method: string, args: string | undefined, opts) => {
    const params = submitParams(name, method, args, opts);
    const mesh = await client(ctx);
    const reply = await mesh.capability.call(params, {
      timeoutMs: (params.timeoutMs ?? 3_600_000) + 60_000,
    });
    printJson(ctx, ctx.global().json ? reply : reply.result);
  });
}
