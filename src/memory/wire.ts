import type { z } from "zod";
import type { WireEntrySchema } from "../api/memory.ts";
import { Entry } from "./entry.ts";
import { parseGlobalId } from "./identity.ts";
import { checkBlueprint } from "./manifest.ts";
import { fromBase64, toBase64 } from "./record.ts";
import { isBytes } from "./value.ts";

/** An entry as it travels over RPC. */
export type WireEntry = z.infer<typeof WireEntrySchema>;

/** An entry for the wire: JSON as it is, bytes in base64. */
export function toWire(entry: Entry): WireEntry {
  return {
    id: entry.id,
    kind: entry.kind,
    ...(entry.nickname !== undefined ? { nickname: entry.nickname } : {}),
    ...(entry.createdAt !== undefined ? { createdAt: entry.createdAt } : {}),
    value: isBytes(entry.value) ? { bytes: toBase64(entry.value) } : { json: entry.value },
  };
}

/** An entry from the wire, checked like any other (JSON data only; a manifest's blueprint holds ids only). */
export function fromWire(wire: WireEntry): Entry {
  const { uuid, evolution } = parseGlobalId(wire.id);
  const value = "bytes" in wire.value ? fromBase64(wire.value.bytes) : wire.value.json;
  if (wire.kind === "manifest") checkBlueprint(value);
  return new Entry({
    uuid,
    evolution,
    kind: wire.kind,
    value,
    nickname: wire.nickname,
    createdAt: wire.createdAt,
  });
}

/** About how many bytes an entry takes on the wire (for batching under the request limit). */
export function wireSize(wire: WireEntry): number {
  return "bytes" in wire.value
    ? wire.value.bytes.length + 200
    : JSON.stringify(wire.value.json).length + 200;
}
