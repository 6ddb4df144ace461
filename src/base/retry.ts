/**
 * The retry loop every token request runs in, a leaf: exponential backoff with full jitter, or the
 * provider's own `Retry-After`.
 */
import { isRetryable, type ProviderUnavailableError, type RateLimitedError, type TokenError } from './errors.js';
import { sleep } from './timers.js';

/** How failed token requests are retried. */
export interface RetryPolicy {
  /** Total attempts, the first included (default 3). */
  readonly attempts: number;
  /** Base of the exponential backoff, ms (default 250): attempt n waits up to base × 2^(n−1). */
  readonly baseDelayMs: number;
  /** Cap of one backoff delay, ms (default 10 000). */
  readonly maxDelayMs: number;
  /** Longest `Retry-After` waited for inside one call, ms (default 30 000); longer ones end the call. */
  readonly maxRetryAfterMs: number;
}

/** Hooks the retry loop reports through. */
export interface RetryHooks {
  /** Called before each wait. */
  onRetry?(error: TokenError, attempt: number, delayMs: number): void;
  /** Random source in [0, 1), replaceable for tests. */
  random?(): number;
}

/**
 * Runs `attempt` until it succeeds, fails with a non-retryable error, or the attempts are spent.
 * Waits full-jitter exponential backoff (AWS's "full jitter": uniform in [0, cap]) between attempts,
 * or exactly the provider's `Retry-After` when it gave one (its timing beats our guess).
 *
 * Written here rather than taken from ky because the same loop must drive every provider, including
 * openid-client's and custom ones, and the issuer (core/issuer.ts) counts each attempt in the stats and
 * the issuance guard's budget.
 */
export async function withRetries<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  policy: RetryPolicy,
  signal: AbortSignal,
  hooks: RetryHooks = {},
): Promise<T> {
  const random = hooks.random ?? Math.random;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (!isRetryable(error) || n >= policy.attempts || signal.aborted) throw error;
      const delay = retryDelay(error, n, policy, random);
      if (delay === undefined) throw error;
      hooks.onRetry?.(error, n, delay);
      await sleep(delay, signal);
    }
  }
}

function retryDelay(error: ProviderUnavailableError | RateLimitedError, attempt: number, policy: RetryPolicy, random: () => number): number | undefined {
  if (error.retryAfterMs !== undefined) {
    return error.retryAfterMs > policy.maxRetryAfterMs ? undefined : error.retryAfterMs;
  }
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * cap);
}
