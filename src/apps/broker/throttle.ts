/**
 * Fixed-window counters, bounded in memory (lru-cache with a TTL per window): failed authentications
 * per client IP, reported rejections per consumer and provider.
 */
import { LRUCache } from 'lru-cache';

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

  /** Counts one hit of `key`. */
  hit(key: string): void {
    const window = this.#windows.get(key);
    if (window === undefined) this.#windows.set(key, { count: 1 });
    else window.count++;
  }
}
