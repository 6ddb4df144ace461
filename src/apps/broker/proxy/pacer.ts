/**
 * The call budget as the proxy sees it: ask for a slot before a call goes upstream, report a 429 the
 * API answered. The token manager provides both (`tokens.acquire`, `tokens.reportRateLimited`).
 */

/** What the proxy needs of a call budget. The token manager satisfies it structurally. */
export interface CallPacer {
  /**
   * Resolves when a slot of credential `id`'s call budget is granted; rejects with a `RateLimitedError`
   * (with `retryAfterMs`) when none is free within the budget's wait bound, or when `signal` aborts.
   */
  acquire(id: string, options?: { signal?: AbortSignal }): Promise<void>;
  /** Tells the budget that the API answered `id`'s call with 429 (its `Retry-After`/`x-ratelimit-*` headers). */
  reportRateLimited(id: string, response: { status: number; headers: Headers }): Promise<void>;
}
