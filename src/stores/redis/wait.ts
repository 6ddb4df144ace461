/**
 * The deadline around every Redis call, leaving no timer behind. (Waiting for another process's token
 * is the stores' one wait protocol, in `../wait.ts`.)
 */
import { withDeadline } from '../../base/timers.js';

/** Rejects with a {@link RedisTimeoutError} if `promise` has not settled within `ms` (the one deadline helper, base/timers.ts). */
export function redisDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return withDeadline(promise, ms, () => new RedisTimeoutError(`Redis ${what} got no answer within ${ms} ms`));
}

/** A Redis call that took longer than the store's `commandTimeoutMs`. */
export class RedisTimeoutError extends Error {
  override readonly name = 'RedisTimeoutError';
}
