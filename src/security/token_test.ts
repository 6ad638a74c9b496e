import assert from "node:assert/strict";
import { isRoamError } from "../errors/mod.ts";
import { parseDuration, TokenSigner } from "./mod.ts";

const secret = new Uint8Array(32).fill(7);
const other = new Uint8Array(32).fill(8);

const rejectsWith = (fn: () => unknown, reason: string) =>
  assert.throws(fn, (e) => isRoamError(e, "unauthorized") && e.data.reason === reason);

Deno.test("a minted token verifies and carries its subject and lifetime", () => {
  const signer = new TokenSigner(secret);
  const token = signer.mint({ subject: "laptop", ttlMs: 1000, now: 5000 });
  const claims = signer.verify(token, 5500);
  assert.equal(claims.sub, "laptop");
  assert.equal(claims.exp, 6000);
  assert.equal(claims.kid, signer.keyId);
});

Deno.test("a token from another secret, a tampered one and a malformed one are refused", () => {
  const signer = new TokenSigner(secret);
  rejectsWith(() => signer.verify(new TokenSigner(other).mint({ ttlMs: 1000 })), "invalid");
  const [prefix, body, sig] = signer.mint({ ttlMs: 1000 }).split(".");
  const longer = Buffer.from(
    JSON.stringify({ ...JSON.parse(Buffer.from(body, "base64url").toString()), exp: 9e15 }),
  ).toString("base64url");
  rejectsWith(() => signer.verify(`${prefix}.${longer}.${sig}`), "invalid");
  rejectsWith(() => signer.verify("roam1.abc"), "malformed");
  rejectsWith(() => signer.verify("Bearer x"), "malformed");
  rejectsWith(() => signer.verify(null), "missing");
});

Deno.test("a token is refused from the moment it expires", () => {
  const signer = new TokenSigner(secret);
  const token = signer.mint({ ttlMs: 1000, now: 0 });
  signer.verify(token, 999);
  rejectsWith(() => signer.verify(token, 1000), "expired");
});

Deno.test("token lifetimes are bounded", () => {
  const signer = new TokenSigner(secret);
  assert.throws(() => signer.mint({ ttlMs: 0 }), (e) => isRoamError(e, "invalid_input"));
  assert.throws(
    () => signer.mint({ ttlMs: 31 * 86_400_000 }),
    (e) => isRoamError(e, "invalid_input"),
  );
});

Deno.test("durations parse in ms, s, m, h and d, and nonsense is refused", () => {
  assert.equal(parseDuration("250"), 250);
  assert.equal(parseDuration("90s"), 90_000);
  assert.equal(parseDuration("15m"), 900_000);
  assert.equal(parseDuration("1.5h"), 5_400_000);
  assert.equal(parseDuration("7d"), 604_800_000);
  assert.throws(() => parseDuration("soon"), (e) => isRoamError(e, "invalid_input"));
});
