import { z } from "zod";
import { defineMethod } from "../rpc/mod.ts";

/** The description of one method that `rpc.discover` returns. */
export const MethodDescriptionSchema = z.object({
  name: z.string(),
  summary: z.string(),
  public: z.boolean(),
  transport: z.enum(["any", "ws"]),
  positional: z.array(z.string()).optional(),
  timeoutMs: z.number().optional(),
  params: z.record(z.string(), z.unknown()).describe("JSON Schema of the params"),
  result: z.record(z.string(), z.unknown()).describe("JSON Schema of the result"),
});

/** `rpc.discover`: every method with its schemas, and every error code. */
export const rpcDiscover = defineMethod({
  name: "rpc.discover",
  summary:
    "Every method this host serves with JSON Schemas of its params and result, and roam's error codes.",
  params: z.object({}).strict(),
  result: z.object({
    version: z.string(),
    methods: z.array(MethodDescriptionSchema),
    errors: z.array(z.object({ code: z.string(), number: z.number().int() })),
  }),
});
