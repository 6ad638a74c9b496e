import { z } from "zod";
import { defineMethod } from "../rpc/mod.ts";

/** One recorded state change. */
export const EventSchema = z.object({
  /** Position in the log; strictly increasing, never reused. */
  seq: z.number().int().positive(),
  /** When it happened, ISO 8601. */
  ts: z.string(),
  /** What happened, `subsystem.what` (for example `host.started`). */
  type: z.string(),
  /** What it happened to (an agent id, an address), when there is one thing. */
  subject: z.string().nullable(),
  /** The facts. */
  data: z.record(z.string(), z.unknown()),
});

/** One recorded state change. */
export type RoamEvent = z.infer<typeof EventSchema>;

const TypesSchema = z.array(z.string().min(1).max(128)).max(32).optional()
  .describe("only these event types; a type ending in '.' matches as a prefix (\"host.\")");

/** `events.since`: page through the event log. */
export const eventsSince = defineMethod({
  name: "events.since",
  summary: "Events after a seq, oldest first, at most `limit` of them.",
  params: z.object({
    since: z.number().int().min(0).default(0).describe("return events with a seq above this"),
    limit: z.number().int().min(1).max(1000).default(100),
    types: TypesSchema,
  }).strict(),
  positional: ["since", "limit"],
  result: z.object({
    events: z.array(EventSchema),
    next: z.number().int().describe("pass as `since` to get the following page"),
    latest: z.number().int(),
    oldest: z.number().int().describe("the oldest seq still kept; older ones were dropped"),
  }),
});

/** The notification a subscription sends for each event. */
export const EVENT_NOTIFICATION = "events.event";

/** Params of the {@linkcode EVENT_NOTIFICATION} notification. */
export const EventNotificationSchema = z.object({ subscription: z.string(), event: EventSchema });

/** `events.subscribe`: hear events live over a WebSocket, optionally replaying from a seq first. */
export const eventsSubscribe = defineMethod({
  name: "events.subscribe",
  summary:
    "Over a WebSocket: send each new event as an 'events.event' notification; with `since`, first replay the kept events after it.",
  params: z.object({
    since: z.number().int().min(0).optional().describe("replay kept events after this seq first"),
    types: TypesSchema,
  }).strict(),
  result: z.object({ subscription: z.string(), latest: z.number().int() }),
  transport: "ws",
});

/** `events.unsubscribe`: stop a subscription. */
export const eventsUnsubscribe = defineMethod({
  name: "events.unsubscribe",
  summary: "Stop a subscription made on this WebSocket.",
  params: z.object({ subscription: z.string() }).strict(),
  positional: ["subscription"],
  result: z.object({ ok: z.boolean() }),
  transport: "ws",
});
