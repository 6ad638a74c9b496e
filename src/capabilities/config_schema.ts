import { RoamError } from "../errors/mod.ts";

const TYPES: Record<string, (v: unknown) => boolean> = {
  string: (v) => typeof v === "string",
  number: (v) => typeof v === "number",
  integer: (v) => Number.isInteger(v),
  boolean: (v) => typeof v === "boolean",
  object: (v) => typeof v === "object" && v !== null && !Array.isArray(v),
  array: (v) => Array.isArray(v),
  null: (v) => v === null,
};

/**
 * Check an instance config against the top level of a capability's JSON
 * schema: an object, its `required` keys, the `type` and `enum` of each
 * property, and `additionalProperties: false`. Deeper rules are the
 * worker's to check at initialize.
 */
export function checkConfig(
  capability: string,
  schema: Record<string, unknown> | undefined,
  config: unknown,
): void {
  if (!schema) return;
  const fail = (message: string) => {
    throw new RoamError("invalid_input", `config of ${capability}: ${message}`, {
      capability,
      category: "user_input",
    });
  };
  if (!TYPES.object(config)) fail("must be a JSON object");
  const value = config as Record<string, unknown>;
  const properties = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  for (const key of (schema.required ?? []) as string[]) {
    if (!(key in value)) fail(`'${key}' is required`);
  }
  for (const [key, item] of Object.entries(value)) {
    const rule = properties[key];
    if (!rule) {
      if (schema.additionalProperties === false) fail(`'${key}' is not a known setting`);
      continue;
    }
    const types = rule.type === undefined ? [] : [rule.type].flat() as string[];
    if (types.length && !types.some((t) => TYPES[t]?.(item))) {
      fail(`'${key}' must be of type ${types.join(" or ")}`);
    }
    if (
      Array.isArray(rule.enum) && !rule.enum.some((e) => JSON.stringify(e) === JSON.stringify(item))
    ) {
      fail(`'${key}' must be one of ${rule.enum.map((e) => JSON.stringify(e)).join(", ")}`);
    }
  }
}
