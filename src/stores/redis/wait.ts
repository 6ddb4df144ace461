/**
 * The deadline around every Redis call, leaving no timer behind. (Waiting for another process's token
 * is the stores' one wait protocol, in `../wait.ts`.)
 */

/** Rejects with a timeout error if `promise` has not settled within `ms`. */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      // The late settlement of `promise` must not become an unhandled rejection.
      promise.catch(() => {});
      reject(new RedisTimeoutError(`Redis ${what} got no answer within ${ms} ms`));
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error as Error);
      },
    );
  });
}

/** A Redis call that took longer than the store's `commandTimeoutMs`. */
export class RedisTimeoutError extends Error {
  override readonly name = 'RedisTimeoutError';
}
