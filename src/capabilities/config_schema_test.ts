import assert from "node:assert/strict";
import { checkConfig } from "./config_schema.ts";

const schema = {
  type: "object",
  required: ["model"],
  properties: {
    model: { type: "string" },
    batch: { type: "integer" },
    dtype: { enum: ["float16", "float32"] },
  },
  additionalProperties: false,
};

Deno.test("a config is checked against the top level of its schema", () => {
  checkConfig("c", schema, { model: "m", batch: 4, dtype: "float16" });
  checkConfig("c", undefined, { anything: true });
  const wrong: [unknown, RegExp][] = [
    [[], /must be a JSON object/],
    [{}, /'model' is required/],
    [{ model: 1 }, /'model' must be of type string/],
    [{ model: "m", batch: 1.5 }, /'batch' must be of type integer/],
    [{ model: "m", dtype: "int8" }, /'dtype' must be one of/],
    [{ model: "m", extra: 1 }, /'extra' is not a known setting/],
  ];
  for (const [config, pattern] of wrong) {
    assert.throws(() => checkConfig("c", schema, config), pattern, JSON.stringify(config));
  }
});
