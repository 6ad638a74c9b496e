import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { RoamError } from "../errors/mod.ts";

/** Prefix of every roam token, naming its format. */
export const TOKEN_PREFIX = "roam1";

/** Most verified tokens remembered per signer. */
const VERIFIED_CACHE = 1024;

/** Longest life a token may be given: 30 days. */
export const MAX_TOKEN_TTL_MS = 30 * 24 * 3600 * 1000;

/** What a token says. */
export const TokenClaimsSchema = z.object({
  /** Who holds it (a person, a CLI, a host). */
  sub: z.string().min(1).max(128),
  /** Issued at, ms since the epoch. */
  iat: z.number().int(),
  /** Expires at, ms since the epoch. */
  exp: z.number().int(),
  /** Which key signed it: the first bytes of the key's fingerprint. */
  kid: z.string().max(32),
}).strict();

/** What a token says. */
export type TokenClaims = z.infer<typeof TokenClaimsSchema>;

/** Options for {@linkcode mintToken}. */
export interface MintOptions {
  /** Who the token is for. Default `"cli"`. */
  subject?: string;
  /** Lifetime in ms; at most {@linkcode MAX_TOKEN_TTL_MS}. */
  ttlMs: number;
  /** The clock, for tests. */
  now?: number;
}

/** Signs and checks tokens with a key derived from the mesh secret. */
export class TokenSigner {
  readonly #key: Buffer;
  readonly #verified = new Map<string, TokenClaims>();
  /** Short fingerprint of the signing key, carried in tokens as `kid`. */
  readonly keyId: string;

  /** Derive the signing key from the mesh secret (HKDF-SHA256). */
  constructor(secret: Uint8Array) {
    this.#key = Buffer.from(hkdfSync("sha256", secret, new Uint8Array(0), "roam/token/v1", 32));
    this.keyId = createHmac("sha256", this.#key).update("kid").digest("base64url").slice(0, 8);
  }

  /** Mint a token: `roam1.<claims>.<signature>`, all base64url. */
  mint(options: MintOptions): string {
    if (!(options.ttlMs > 0) || options.ttlMs > MAX_TOKEN_TTL_MS) {
      throw new RoamError(
        "invalid_input",
        `a token's lifetime must be between 1 ms and 30 days, got ${options.ttlMs} ms`,
        {
          ttlMs: options.ttlMs,
        },
      );
    }
    const now = options.now ?? Date.now();
    const claims: TokenClaims = {
      sub: options.subject ?? "cli",
      iat: now,
      exp: now + options.ttlMs,
      kid: this.keyId,
    };
    const body = `${TOKEN_PREFIX}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
    return `${body}.${this.#sign(body)}`;
  }

  /**
   * Check a token's signature and lifetime and return its claims. Throws
   * `unauthorized` with `data.reason` one of `missing`, `malformed`, `invalid`
   * or `expired`; the message never says more than that.
   */
  verify(token: string | null, now = Date.now()): TokenClaims {
    // A token seen before skips the HMAC and the parse; its lifetime is still checked.
    const known = token ? this.#verified.get(token) : undefined;
    if (known) {
      if (known.exp <= now) {
        this.#verified.delete(token!);
        throw unauthorized(
          "expired",
          "unauthorized: the token has expired; mint a new one with 'roam token'",
        );
      }
      return known;
    }
    const claims = this.#verifyFresh(token, now);
    if (this.#verified.size >= VERIFIED_CACHE) {
      this.#verified.delete(this.#verified.keys().next().value!);
    }
    this.#verified.set(token!, claims);
    return claims;
  }

  #verifyFresh(token: string | null, now: number): TokenClaims {
    if (!token) {
      throw unauthorized(
        "missing",
        "unauthorized: send 'Authorization: Bearer TOKEN'; mint one with 'roam token'",
      );
    }
    const parts = token.split(".");
    if (parts.length !== 3 || parts[0] !== TOKEN_PREFIX || token.length > 2048) {
      throw unauthorized("malformed", "unauthorized: the token is not a roam token");
    }
    const expected = Buffer.from(this.#sign(`${parts[0]}.${parts[1]}`));
    const given = Buffer.from(parts[2]);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw unauthorized(
        "invalid",
        "unauthorized: the token was not signed with this mesh's secret",
      );
    }
    let claims: TokenClaims;
    try {
      claims = TokenClaimsSchema.parse(JSON.parse(Buffer.from(parts[1], "base64url").toString()));
    } catch {
      throw unauthorized("malformed", "unauthorized: the token's claims are malformed");
    }
    if (claims.exp <= now) {
      throw unauthorized(
        "expired",
        "unauthorized: the token has expired; mint a new one with 'roam token'",
      );
    }
    return claims;
  }

  #sign(body: string): string {
    return createHmac("sha256", this.#key).update(body).digest("base64url");
  }
}

function unauthorized(reason: string, message: string): RoamError {
  return new RoamError("unauthorized", message, { reason });
}

/**
 * Parse a duration like `90s`, `15m`, `12h` or `7d` (or plain milliseconds)
 * into milliseconds.
 */
export function parseDuration(text: string): number {
  const match = text.trim().match(/^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/);
  if (!match) {
    throw new RoamError(
      "invalid_input",
      `"${text}" is not a duration; use forms like 90s, 15m, 12h or 7d`,
      { text },
    );
  }
  const unit =
    { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? "ms") as "ms"];
  return Math.round(Number(match[1]) * unit);
}
