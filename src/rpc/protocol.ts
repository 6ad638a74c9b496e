import { z } from "zod";

/** A legal JSON-RPC 2.0 id: a string, a number, or null. */
export const IdSchema = z.union([z.string(), z.number(), z.null()]);

/** A JSON-RPC 2.0 id. */
export type Id = z.infer<typeof IdSchema>;

/** A JSON-RPC 2.0 request or notification, as the specification defines it. */
export const RequestSchema = z.object({
  jsonrpc: z.literal("2.0"),
  method: z.string(),
  params: z.union([z.array(z.unknown()), z.record(z.string(), z.unknown())]).optional(),
  id: IdSchema.optional(),
});

/** A validated JSON-RPC request; `id` is absent for a notification. */
export type Request = z.infer<typeof RequestSchema>;

/** The error member of a JSON-RPC response. */
export const ErrorObjectSchema = z.object({
  code: z.number().int(),
  message: z.string(),
  data: z.unknown().optional(),
});

/** The error member of a JSON-RPC response. */
export type ErrorObject = z.infer<typeof ErrorObjectSchema>;

/** A JSON-RPC 2.0 response: exactly one of `result` and `error`. */
export const ResponseSchema = z.union([
  z.object({ jsonrpc: z.literal("2.0"), id: IdSchema, result: z.unknown() }).strict(),
  z.object({ jsonrpc: z.literal("2.0"), id: IdSchema, error: ErrorObjectSchema }).strict(),
]);

/** A JSON-RPC 2.0 response. */
export type Response =
  | { jsonrpc: "2.0"; id: Id; result: unknown }
  | { jsonrpc: "2.0"; id: Id; error: ErrorObject };

/** A notification from the server (over a WebSocket). */
export const NotificationSchema = z.object({
  jsonrpc: z.literal("2.0"),
  method: z.string(),
  params: z.unknown().optional(),
});
