import { AsyncLocalStorage } from "node:async_hooks";

class Scope {
  readonly parent?: Scope;
  readonly pending = new Set<Promise<unknown>>();
  readonly controller = new AbortController();
  failed = false;
  firstError: unknown;

  constructor(parent?: Scope) {
    this.parent = parent;
  }

  add(promise: Promise<unknown>): void {
    this.pending.add(promise);
    promise.then(
      () => this.pending.delete(promise),
      (error) => {
        this.pending.delete(promise);
        if (!this.failed) {
          this.failed = true;
          this.firstError = error;
          this.controller.abort(error);
        }
      },
    );
  }
}

const scopes = new AsyncLocalStorage<Scope>();

/**
 * Register an operation with every `guarantee` scope it was started in (the
 * innermost and all around it). Outside any scope it does nothing. Memory
 * operations call it; scripts may call it for their own promises.
 */
export function track<T>(promise: Promise<T>): Promise<T> {
  for (let scope = scopes.getStore(); scope; scope = scope.parent) scope.add(promise);
  return promise;
}

/**
 * Run `fn`, then wait for every operation started inside it (also those it
 * did not await, and those started by them) and throw the first error, in
 * the order the failures happened. When `fn` itself throws, its error wins,
 * after the operations have settled. `signal` aborts at the first failure,
 * so `fn` can stop starting new work.
 *
 * @example
 * await guarantee(async () => {
 *   memory.memorize(a);            // not awaited: guarantee waits for it
 *   memory.memorize([b, c]);
 * });                              // here all three are stored, or this threw
 */
export async function guarantee<T>(fn: (signal: AbortSignal) => Promise<T> | T): Promise<T> {
  const scope = new Scope(scopes.getStore());
  let result: T | undefined;
  let thrown: { error: unknown } | undefined;
  try {
    result = await scopes.run(scope, () => fn(scope.controller.signal));
  } catch (error) {
    thrown = { error };
  }
  while (scope.pending.size) await Promise.allSettled([...scope.pending]);
  if (thrown) throw thrown.error;
  if (scope.failed) throw scope.firstError;
  return result as T;
}
