import type { Command } from "commander";
import { RoamError } from "../../errors/mod.ts";
import { parseDuration } from "../../security/mod.ts";
import { client, type CommandContext, printJson } from "../context.ts";
import { formatTable } from "../output.ts";

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `roam service ...`: the services agents offer, and resident services. */
export function serviceCommand(program: Command, ctx: CommandContext): void {
  const service = program.command("service")
    .description("list the services agents offer, call them, and declare resident services")
    .addHelpText(
      "after",
      `
Examples:
  roam service ls
  roam service call thumbnails resize '{"width": 128}'
  roam service declare thumbnails --plugin thumbs --capability resize --idle 5m`,
    );

  service.command("ls")
    .alias("list")
    .description("list live services (resident ones too, even while their agent sleeps)")
    .option("--name <name>", "only this service")
    .option("--capability <op>", "only services that offer this operation")
    .action(async (opts) => {
      const mesh = await client(ctx);
      const { services } = await mesh.service.list({
        name: opts.name,
        capability: opts.capability,
      });
      if (ctx.global().json) return printJson(ctx, services);
      if (services.length === 0) return ctx.io.out("no services");
      ctx.io.out(formatTable(services, [
        { header: "NAME", value: (s) => s.name },
        { header: "VERSION", value: (s) => s.version },
        { header: "AGENT", value: (s) => s.agentId },
        { header: "CAPABILITIES", value: (s) => s.capabilities.join(",") || "*", max: 40 },
        {
          header: "RESIDENT",
          value: (s) => s.resident ? `${s.resident.plugin} (${s.resident.status})` : "-",
        },
        { header: "EXPIRES", value: (s) => s.expiresAt ?? "never" },
      ]));
    });

  service.command("call")
    .description("call an operation of a service and print the reply as JSON")
    .argument("<name>", "the service name")
    .argument("<operation>", "the operation")
    .argument("[args]", "its arguments as JSON")
    .action(async (name: string, operation: string, args?: string) => {
      let parsed: unknown;
      if (args !== undefined) {
        try {
          parsed = JSON.parse(args);
        } catch (error) {
          throw new RoamError(
            "invalid_input",
            `args are not valid JSON: ${(error as Error).message}`,
            {},
          );
        }
      }
      const mesh = await client(ctx);
      printJson(ctx, await mesh.service.call({ name, operation, args: parsed }));
    });

  service.command("declare")
    .description(
      "declare a resident service: its agent starts on the first call and sleeps when idle",
    )
    .argument("<name>", "the service name")
    .requiredOption("--plugin <plugin>", "the installed plugin whose agent serves it")
    .option("--capability <op>", "an operation it offers; repeatable", collect)
    .option("--idle <duration>", "sleep after this long without calls (like 5m)")
    .action(async (name: string, opts) => {
      const mesh = await client(ctx);
      const result = await mesh.service.declare({
        name,
        plugin: opts.plugin,
        capabilities: opts.capability,
        idleMs: opts.idle ? parseDuration(opts.idle) : undefined,
      });
      if (ctx.global().json) printJson(ctx, result);
      else ctx.io.out(`service ${name} declared`);
    });

  service.command("undeclare")
    .description("remove a resident service and dispose of its agent")
    .argument("<name>", "the service name")
    .action(async (name: string) => {
      const mesh = await client(ctx);
      await mesh.service.undeclare({ name });
      ctx.io.out(`service ${name} removed`);
    });
}
