/**
 * Fixed-window counters, bounded in memory (lru-cache with a TTL per window): failed authentications
 * per client IP ({@link FailedAuthThrottle}), reported rejections per consumer and provider, requests
 * per consumer.
 */
import { LRUCache } from 'lru-cache';
import type { BrokerError } from './errors.js';

/** A count per key that resets `windowMs` after its first hit. */
export class WindowCounter {
  readonly #limit: number;
  readonly #windows: LRUCache<string, { count: number }>;

  /** `limit` hits per key per window; at most `maxKeys` keys are remembered (the oldest are forgotten). */
  constructor(limit: number, windowMs: number, maxKeys = 10_000) {
    this.#limit = limit;
    // noUpdateTTL: a window runs from its first hit; later hits do not extend it.
    this.#windows = new LRUCache({ max: maxKeys, ttl: windowMs, noUpdateTTL: true, ttlAutopurge: false });
  }

  /** Ms until `key` may hit again, or 0 when it has room. */
  retryAfterMs(key: string): number {
    if (this.#windows.size === 0) return 0;
    const window = this.#windows.get(key);
    if (window === undefined || window.count < this.#limit) return 0;
    return Math.max(1, this.#windows.getRemainingTTL(key));
  }

  /** Counts one hit of `key`; returns its count in the current window. */
  hit(key: string): number {
    const window = this.#windows.get(key);
    if (window === undefined) {
      this.#windows.set(key, { count: 1 });
      return 1;
    }
    return ++window.count;
  }

  /** Ms until the window of `key` ends (at least 1), or 0 when it has none. */
  remainingMs(key: string): number {
    return this.#windows.has(key) ? Math.max(1, this.#windows.getRemainingTTL(key)) : 0;
  }
}

/** What the throttle says about one failed authentication. */
export interface FailedAuthVerdict {
  /** Ms until the address's window ends when it is over its limit (answer 429 with Retry-After), else 0. */
  readonly retryAfterMs: number;
  /**
   * Whether this failure gets its own log/audit line: every one up to the limit, and the first one past
   * it (which says that the rest of the window is not logged one by one). A misconfigured or hostile
   * client then costs a bounded number of lines per window, not one per request.
   */
  readonly logged: boolean;
}

/**
 * Failed authentications per client address. It throttles the *failures* only: a request with a valid
 * key is answered normally whatever its address has done, so one misconfigured service behind a NAT
 * (or on the same node) cannot lock its neighbours out. Past the limit, failures get 429 with
 * `Retry-After` instead of 401 — a well-behaved client backs off — and are not logged one by one.
 *
 * Keys are long random values (`tokenbroker new-key`: 192 random bits), so guessing is hopeless at any rate;
 * the throttle is there for the broker's CPU and logs, not for the keys' entropy. Failures are not
 * delayed: holding the connection open would cost the broker more than the client.
 */
export class FailedAuthThrottle {
  readonly #limit: number;
  readonly #counter: WindowCounter;

  /** `limit` failures per address per `windowMs`; at most `maxAddresses` addresses are remembered. */
  constructor(limit: number, windowMs: number, maxAddresses = 10_000) {
    this.#limit = limit;
    this.#counter = new WindowCounter(limit, windowMs, maxAddresses);
  }

  /** Counts one failed authentication from `address` and says how to answer it. */
  fail(address: string): FailedAuthVerdict {
    const count = this.#counter.hit(address);
    const retryAfterMs = count > this.#limit ? this.#counter.remainingMs(address) : 0;
    return { retryAfterMs, logged: count <= this.#limit + 1 };
  }
}

/** The one log line when an address goes over the limit (the failures after it are not logged one by one). */
export const FAILED_AUTH_THROTTLED =
  'too many failed authentications from this address: its failures get 429 until the window ends and are not logged one by one; valid keys are still served';

/** The answer to a failed authentication past the limit. */
export function throttledAnswer(retryAfterMs: number): BrokerError {
  return {
    status: 429,
    code: 'too_many_failed_authentications',
    message: 'Too many failed authentications from this address; a valid key is still served',
    retryAfterSeconds: Math.ceil(retryAfterMs / 1000),
  };
}
