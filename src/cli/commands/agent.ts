import type { Command } from "commander";
import { RoamError } from "../../errors/mod.ts";
import { parseDuration } from "../../security/mod.ts";
import { client, type CommandContext, printJson } from "../context.ts";
import { formatPairs, formatTable } from "../output.ts";

function parseJson(text: string | undefined, what: string): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RoamError(
      "invalid_input",
      `${what} is not valid JSON: ${(error as Error).message}`,
      {},
    );
  }
}

function parseInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) {
    throw new RoamError("invalid_input", `expected a whole number, got "${value}"`, { value });
  }
  return n;
}

/** `roam agent ...`: create agents, talk to them, put them to sleep and wake them. */
export function agentCommand(program: Command, ctx: CommandContext): void {
  const agent = program.command("agent")
    .description(
      "create agents from installed plugins, send them messages, sleep, wake, clone and dispose them",
    )
    .addHelpText(
      "after",
      `
Examples:
  roam agent create hello --state '{"count": 0}'
  roam agent send ID increment
  roam agent send ID echo '{"text": "hi"}' --priority 9
  roam agent deactivate ID --no-activate-on-message
  roam agent dispatch ID gpu-box
  roam agent dispatch ID http://10.0.0.5:7420
  roam agent retract ID gpu-box
  roam agent ls`,
    );

  agent.command("create")
    .description("create an agent of an installed plugin and print its id")
    .argument("<plugin>", "plugin name, optionally NAME@VERSION")
    .option("--state <json>", "its first state (default: the class's initialState())")
    .option("--init <json>", "the argument of onCreation")
    .action(async (spec: string, opts: { state?: string; init?: string }) => {
      const [plugin, version] = spec.split("@");
      const mesh = await client(ctx);
      const { id } = await mesh.agent.create({
        plugin,
        version,
        state: parseJson(opts.state, "--state"),
        init: parseJson(opts.init, "--init"),
      });
      if (ctx.global().json) printJson(ctx, { id });
      else ctx.io.out(id);
    });

  agent.command("send")
    .description("send a message and print the reply (JSON)")
    .argument("<id>", "the agent id")
    .argument("<kind>", "the message kind, like echo")
    .argument("[args]", "its arguments as JSON")
    .option("--priority <n>", "1..10, higher first (default 5); 0 bypasses the queue", parseInteger)
    .option("--oneway", "do not wait for the handler")
    .option(
      "--timeout <duration>",
      "how long the handler may run (like 30s); past it the agent is stopped as hung",
    )
    .option("--forward", "if the agent moved to another host, deliver it there")
    .action(async (id: string, kind: string, args: string | undefined, opts) => {
      const mesh = await client(ctx);
      const outcome = await mesh.agent.send({
        id,
        kind,
        args: parseJson(args, "args"),
        priority: opts.priority,
        oneway: opts.oneway,
        timeoutMs: opts.timeout ? parseDuration(opts.timeout) : undefined,
        forward: opts.forward,
      });
      if (ctx.global().json || outcome.status === "replied") {
        return printJson(ctx, ctx.global().json ? outcome : outcome.reply);
      }
      ctx.io.out(
        outcome.status === "queued"
          ? `queued (position ${outcome.position})`
          : outcome.status === "forwarded"
          ? `travelled with the agent to ${outcome.location}`
          : "accepted",
      );
    });

  agent.command("ls")
    .alias("list")
    .description("list the agents of the host")
    .option("--plugin <name>", "only agents of this plugin")
    .option("--status <status>", "only active, inactive or crashed agents")
    .action(async (opts) => {
      const mesh = await client(ctx);
      const { agents } = await mesh.agent.list({ plugin: opts.plugin, status: opts.status });
      if (ctx.global().json) return printJson(ctx, agents);
      if (agents.length === 0) {
        return ctx.io.out("no agents; create one with 'roam agent create PLUGIN'");
      }
      ctx.io.out(formatTable(agents, [
        { header: "ID", value: (a) => a.id },
        { header: "PLUGIN", value: (a) => `${a.plugin}@${a.version}` },
        { header: "STATUS", value: (a) => a.status },
        { header: "MAILBOX", value: (a) => String(a.mailbox) },
        { header: "QUEUED", value: (a) => String(a.queued) },
        { header: "SINCE", value: (a) => a.updatedAt.replace("T", " ").slice(0, 19) },
        { header: "REASON", value: (a) => a.reason ?? "-", max: 60 },
      ]));
    });

  agent.command("get")
    .description("show one agent (with --state, its state)")
    .argument("<id>", "the agent id")
    .option("--state", "include its state")
    .action(async (id: string, opts: { state?: boolean }) => {
      const mesh = await client(ctx);
      const a = await mesh.agent.get({ id, withState: opts.state });
      if (ctx.global().json) return printJson(ctx, a);
      ctx.io.out(formatPairs([
        ["id", a.id],
        ["plugin", `${a.plugin}@${a.version}`],
        ["status", a.status],
        ["reason", a.reason ?? "-"],
        ["mailbox", `${a.mailbox} waiting`],
        ["queued", `${a.queued} kept while asleep`],
        ["wakes at", a.activateAt ?? "-"],
        ["created", a.createdAt],
        ["updated", a.updatedAt],
        ...(opts.state ? [["state", JSON.stringify(a.state)] as const] : []),
      ]));
    });

  agent.command("deactivate")
    .alias("sleep")
    .description("put an agent to sleep; its state and waiting messages go to disk")
    .argument("<id>", "the agent id")
    .option("--no-activate-on-message", "stay asleep when messages arrive (keep them instead)")
    .option("--no-queue", "refuse messages while asleep (with --no-activate-on-message)")
    .option("--wake-in <duration>", "wake after this long (like 10m)")
    .option("--wake-at <time>", "wake at this time (ISO 8601)")
    .action(async (id: string, opts) => {
      let activateAt: number | undefined;
      if (opts.wakeIn) activateAt = Date.now() + parseDuration(opts.wakeIn);
      if (opts.wakeAt) {
        activateAt = Date.parse(opts.wakeAt);
        if (Number.isNaN(activateAt)) {
          throw new RoamError("invalid_input", `--wake-at "${opts.wakeAt}" is not a time`, {});
        }
      }
      const mesh = await client(ctx);
      await mesh.agent.deactivate({
        id,
        activateOnMessage: opts.activateOnMessage,
        queueWhenInactive: opts.queue,
        activateAt,
      });
      ctx.io.out(`agent ${id} is asleep`);
    });

  for (
    const [name, summary] of [
      ["activate", "wake a sleeping agent; messages kept for it are delivered in order"],
      ["restart", "restart a crashed agent from its last good state"],
      ["dispose", "end an agent for good"],
    ] as const
  ) {
    agent.command(name)
      .description(summary)
      .argument("<id>", "the agent id")
      .action(async (id: string) => {
        const mesh = await client(ctx);
        await mesh.agent[name]({ id });
        ctx.io.out(
          `agent ${id}: ${
            name === "activate" ? "awake" : name === "restart" ? "restarted" : "disposed"
          }`,
        );
      });
  }

  agent.command("clone")
    .description("copy a running agent (a new id, the same state) and print the copy's id")
    .argument("<id>", "the agent id")
    .option("--to <host>", "make the copy on this host, by name or URL (default: here)")
    .action(async (id: string, opts: { to?: string }) => {
      const mesh = await client(ctx);
      const clone = await mesh.agent.clone({ id, to: opts.to });
      if (ctx.global().json) printJson(ctx, clone);
      else ctx.io.out(clone.id);
    });

  agent.command("dispatch")
    .alias("move")
    .description(
      "move a running agent to another host, with its state and waiting messages (exactly once: if that host does not take it, it stays here)",
    )
    .argument("<id>", "the agent id")
    .argument("<to>", "the target host's name in the mesh ('roam hosts'), or its URL")
    .action(async (id: string, to: string) => {
      const mesh = await client(ctx);
      const moved = await mesh.agent.dispatch({ id, to });
      if (ctx.global().json) printJson(ctx, moved);
      else ctx.io.out(`agent ${id} is on ${moved.location}`);
    });

  agent.command("retract")
    .description("pull an agent back to this host from the host it is on")
    .argument("<id>", "the agent id")
    .argument("<from>", "the host it is on (or went through), by name or URL")
    .action(async (id: string, from: string) => {
      const mesh = await client(ctx);
      const moved = await mesh.agent.retract({ id, from });
      if (ctx.global().json) printJson(ctx, moved);
      else ctx.io.out(`agent ${id} is back on ${moved.location}`);
    });

  agent.command("multicast")
    .description("send one message to every active agent and print every reply")
    .argument("<kind>", "the message kind")
    .argument("[args]", "its arguments as JSON")
    .option("--plugin <name>", "only agents of this plugin")
    .action(async (kind: string, args: string | undefined, opts) => {
      const mesh = await client(ctx);
      const { replies } = await mesh.agent.multicast({
        kind,
        args: parseJson(args, "args"),
        plugin: opts.plugin,
      });
      if (ctx.global().json) return printJson(ctx, replies);
      ctx.io.out(formatTable(replies, [
        { header: "AGENT", value: (r) => r.agentId },
        { header: "OK", value: (r) => r.ok ? "yes" : "no" },
        {
          header: "REPLY",
          value: (r) => r.ok ? JSON.stringify(r.value) : `${r.error?.code}: ${r.error?.message}`,
          max: 80,
        },
      ]));
    });
}
