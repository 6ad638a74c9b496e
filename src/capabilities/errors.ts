import { type ErrorCode, RoamError } from "../errors/mod.ts";
import type { ErrorCategory } from "./contract.ts";

/** The error code each category is reported with, unless a more exact one fits. */
const CODE_OF: Record<ErrorCategory, ErrorCode> = {
  user_input: "invalid_input",
  transient: "unavailable",
  resource: "quota_exceeded",
  fatal: "unavailable",
};

/** Every category, for validation of what workers send. */
export const ERROR_CATEGORIES: readonly ErrorCategory[] = [
  "user_input",
  "transient",
  "resource",
  "fatal",
];

/**
 * A {@linkcode RoamError} carrying a capability error category in
 * `data.category`, so that a queue knows whether a retry can help.
 *
 * @example
 * throw capabilityError("resource", "torch-matmul needs a GPU and this host has none", { gpu: false });
 */
export function capabilityError(
  category: ErrorCategory,
  message: string,
  data: Record<string, unknown> = {},
  code: ErrorCode = CODE_OF[category],
): RoamError {
  return new RoamError(code, message, { ...data, category });
}

/** The category of `error`: its `data.category`, else `fatal` (nothing says a retry helps). */
export function categoryOf(error: unknown): ErrorCategory {
  const category = (error as RoamError | undefined)?.data?.category;
  return ERROR_CATEGORIES.includes(category as ErrorCategory) ? category as ErrorCategory : "fatal";
}
