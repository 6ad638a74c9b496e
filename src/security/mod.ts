/**
 * The mesh secret and the tokens derived from it.
 *
 * @module
 */
export { loadOrCreateSecret, type MeshSecret, readSecret } from "./secret.ts";
export {
  MAX_TOKEN_TTL_MS,
  type MintOptions,
  parseDuration,
  TOKEN_PREFIX,
  type TokenClaims,
  TokenClaimsSchema,
  TokenSigner,
} from "./token.ts";
