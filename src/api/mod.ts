/**
 * The contracts of every RPC method roam serves: names, summaries and zod
 * schemas for params and results. Servers implement them; clients are typed
 * from them. Nothing here runs anything.
 *
 * @module
 */
import type { z } from "zod";
import { hostHealth, hostInfo } from "./host.ts";
import { eventsSince, eventsSubscribe, eventsUnsubscribe } from "./events.ts";
import { rpcDiscover } from "./discover.ts";

export { BindSchema, hostHealth, hostInfo } from "./host.ts";
export {
  EVENT_NOTIFICATION,
  EventNotificationSchema,
  EventSchema,
  eventsSince,
  eventsSubscribe,
  eventsUnsubscribe,
  type RoamEvent,
} from "./events.ts";
export { MethodDescriptionSchema, rpcDiscover } from "./discover.ts";

/** The contracts by name, as a type. */
export type Api = {
  "host.health": typeof hostHealth;
  "host.info": typeof hostInfo;
  "events.since": typeof eventsSince;
  "events.subscribe": typeof eventsSubscribe;
  "events.unsubscribe": typeof eventsUnsubscribe;
  "rpc.discover": typeof rpcDiscover;
};

/** Every method contract, keyed by method name. */
export const API: Api = {
  "host.health": hostHealth,
  "host.info": hostInfo,
  "events.since": eventsSince,
  "events.subscribe": eventsSubscribe,
  "events.unsubscribe": eventsUnsubscribe,
  "rpc.discover": rpcDiscover,
};

/** The name of a method roam serves. */
export type MethodName = keyof Api;

/** What a caller passes to a method (defaults may be left out). */
export type ParamsOf<M extends MethodName> = z.input<Api[M]["params"]>;

/** What a method returns. */
export type ResultOf<M extends MethodName> = z.output<Api[M]["result"]>;
