import type { Command } from "commander";
import { RoamError } from "../../errors/mod.ts";
import { client, type CommandContext, printJson } from "../context.ts";

/** `roam rpc METHOD [PARAMS_JSON]`: call any method and print its result as JSON. */
export function rpcCommand(program: Command, ctx: CommandContext): void {
  program.command("rpc")
    .description(
      "call any JSON-RPC method and print the result as JSON ('roam rpc rpc.discover' lists them)",
    )
    .argument("<method>", "method name, like host.health")
    .argument(
      "[params]",
      "params as JSON (an object or an array); '-' reads them from standard input",
    )
    .addHelpText(
      "after",
      `
Examples:
  roam rpc host.health
  roam rpc events.since '{"since": 0, "limit": 5}'
  echo '[0, 5]' | roam rpc events.since -`,
    )
    .action(async (method: string, paramsText?: string) => {
      const text = paramsText === "-" ? await new Response(Deno.stdin.readable).text() : paramsText;
      let params: unknown;
      if (text !== undefined && text.trim() !== "") {
        try {
          params = JSON.parse(text);
        } catch (error) {
          throw new RoamError(
            "invalid_input",
            `params are not valid JSON: ${(error as Error).message}`,
            {},
          );
        }
      }
      const mesh = await client(ctx);
      try {
        printJson(ctx, await mesh.callUntyped(method, params));
      } finally {
        await mesh.close();
      }
    });
}
