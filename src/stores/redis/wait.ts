/**
 * Small timing helpers for the Redis store: a deadline around any promise, and a wake-up that a
 * notification or a timer can fire, each leaving no timer or listener behind.
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

/** Something a waiter sleeps on until fired or until a timeout. A fire with nobody sleeping is kept. */
export class Wakeup {
  #pending = false;
  #wake: (() => void) | undefined;

  /** Wakes the sleeper now, or the next one to sleep. */
  fire(): void {
    if (this.#wake !== undefined) this.#wake();
    else this.#pending = true;
  }

  /** Resolves when fired or after `ms`, whichever comes first. */
  sleep(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }
}
