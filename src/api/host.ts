import { z } from "zod";
import { defineMethod } from "../rpc/mod.ts";

/** `host.health`: whether the host answers. The one method that needs no token. */
export const hostHealth = defineMethod({
  name: "host.health",
  summary: "Whether the host answers; needs no token.",
  params: z.object({}).strict(),
  result: z.object({ ok: z.literal(true), version: z.string() }),
  public: true,
});

/** How a host is bound: the mode and the addresses it listens on now. */
export const BindSchema = z.object({
  mode: z.enum(["loopback", "auto", "explicit"]),
  addresses: z.array(z.string()),
  port: z.number().int(),
});

/** `host.info`: who this host is and how it is set up. */
export const hostInfo = defineMethod({
  name: "host.info",
  summary: "The host's identity, version, addresses, tags, properties and state counts.",
  params: z.object({}).strict(),
  result: z.object({
    id: z.string(),
    name: z.string(),
    version: z.string(),
    deno: z.string(),
    pid: z.number().int(),
    urls: z.array(z.string()),
    bind: BindSchema,
    tags: z.array(z.string()),
    properties: z.record(z.string(), z.string()),
    dataDir: z.string(),
    startedAt: z.string(),
    uptimeMs: z.number(),
    firstStartedAt: z.string(),
    starts: z.number().int(),
    events: z.object({
      latest: z.number().int(),
      oldest: z.number().int(),
      count: z.number().int(),
      retain: z.number().int(),
    }),
  }),
});
