/**
 * The cache policy's timing, in one place with its defaults: when a token stops being served, when it
 * is refreshed ahead, how long a failed refresh waits, how long a failure cools down, how long the fleet
 * lock lives and is renewed, how long a waiter waits, and the issuance guard's window. Every number the
 * policy computes from options is computed here; the modules that act on them (manager, issuer, guard,
 * fleet, the command) only ask.
 */
import { InvalidCredentialsError, RateLimitedError, type TokenError } from '../base/errors.js';
import type { RetryPolicy } from '../base/retry.js';
import type { Token } from '../base/token.js';

/** Every default of the timing options of `createTokenManager` (docs/caching.md lists them). */
export const TIMING_DEFAULTS = {
  /** A token is served only while `now < expiresAt − skewMs`. */
  skewMs: 30_000,
  /** Refresh ahead when remaining life falls under this fraction of the lifetime… */
  refreshAheadRatio: 0.1,
  /** …or under this many ms, whichever is larger. */
  refreshAheadMinMs: 60_000,
  /** Timeout of one token request attempt. */
  timeoutMs: 10_000,
  /** Retries of failed token requests. */
  retry: { attempts: 3, baseDelayMs: 250, maxDelayMs: 10_000, maxRetryAfterMs: 30_000 } satisfies RetryPolicy,
  /** How long refused credentials are remembered. */
  invalidCredentialsCooldownMs: 60_000,
  /** How long any other failed fetch is remembered. */
  failureCooldownMs: 1_000,
  /** Longest token lifetime believed. */
  maxLifetimeMs: 24 * 60 * 60 * 1000,
  /** The issuance guard's window before any token of the credential has been seen. */
  guardWindowBeforeFirstTokenMs: 60 * 60 * 1000,
} as const;

/** When a token stops being served and when its background refresh starts, epoch ms. */
export interface TokenTimes {
  /** Served only while `now < usableUntil` (expiry minus skew). */
  readonly usableUntil: number;
  /** From this moment one caller refreshes it in the background. */
  readonly refreshAt: number;
}

/** Settings for {@link tokenTimes}. */
export interface TokenTimingPolicy {
  /** Safety margin before `expiresAt`, ms. */
  readonly skewMs: number;
  /** Refresh when remaining life falls under this fraction of the lifetime… */
  readonly refreshAheadRatio: number;
  /** …or under this many ms, whichever is larger. */
  readonly refreshAheadMinMs: number;
}

/** The policy with every default: what a process without options (the command) applies. */
export const DEFAULT_TOKEN_TIMING: TokenTimingPolicy = {
  skewMs: TIMING_DEFAULTS.skewMs,
  refreshAheadRatio: TIMING_DEFAULTS.refreshAheadRatio,
  refreshAheadMinMs: TIMING_DEFAULTS.refreshAheadMinMs,
};

/**
 * Computes when a token stops being served and when its background refresh starts.
 *
 * For short lifetimes the margins shrink so the token stays useful: the skew is at most a quarter of
 * the lifetime and the refresh-ahead lead at most half of it (a 20 s token with a 30 s skew could
 * otherwise never be served, and a 60 s minimum lead would refresh it on every call).
 */
export function tokenTimes(token: Token, policy: TokenTimingPolicy): TokenTimes {
  const lifetime = token.expiresAt - token.issuedAt;
  const skew = Math.min(policy.skewMs, lifetime / 4);
  const usableUntil = token.expiresAt - skew;
  const lead = Math.min(Math.max(lifetime * policy.refreshAheadRatio, policy.refreshAheadMinMs), lifetime / 2);
  const refreshAt = Math.min(usableUntil, token.expiresAt - lead);
  return { usableUntil, refreshAt };
}

/** How long `token` may still be served from `now`, ms (negative once it may not). */
export function usableForMs(token: Token, policy: TokenTimingPolicy, now: number): number {
  return tokenTimes(token, policy).usableUntil - now;
}

/**
 * When to try again after a background refresh started at `now`: the refresh point is pushed on first,
 * so that if this refresh fails the following calls do not each start another one. The pause shrinks
 * as expiry nears (a quarter of what is left, 1 s to 60 s), and never passes the usable end: the warm
 * hit trusts `refreshAt` alone.
 */
export function nextRefreshAttemptAt(usableUntil: number, now: number): number {
  const pause = Math.max(1000, Math.min(60_000, (usableUntil - now) / 4));
  return Math.min(usableUntil, now + pause);
}

/** How long a failed fetch is remembered, ms: callers get its error without a request meanwhile. */
export function cooldownMs(failure: TokenError, options: { readonly invalidCredentialsCooldownMs: number; readonly failureCooldownMs: number }): number {
  if (failure instanceof InvalidCredentialsError) return options.invalidCredentialsCooldownMs;
  if (failure instanceof RateLimitedError) return Math.max(failure.retryAfterMs ?? 0, options.failureCooldownMs);
  return options.failureCooldownMs;
}

/** The issuance guard's rolling window for a credential whose latest token lived `lifetimeMs` (0: none seen yet). */
export function guardWindowMs(windowMs: number | undefined, lifetimeMs: number): number {
  return windowMs ?? (lifetimeMs > 0 ? Math.max(1000, lifetimeMs) : TIMING_DEFAULTS.guardWindowBeforeFirstTokenMs);
}

/** The fleet lock's timing, from the per-attempt timeout and the retry policy. */
export interface FleetTiming {
  /** One attempt plus a margin; renewed while the holder lives, so a holder that dies is replaced within it. */
  readonly lockTtlMs: number;
  /** Every attempt timing out, with the longest wait allowed between attempts. */
  readonly longestFetchMs: number;
}

/** {@link FleetTiming} for a manager's `timeoutMs` and `retry`. */
export function fleetTiming(timeoutMs: number, retry: RetryPolicy): FleetTiming {
  return {
    lockTtlMs: timeoutMs + 5_000,
    longestFetchMs: retry.attempts * timeoutMs + (retry.attempts - 1) * Math.max(retry.maxDelayMs, retry.maxRetryAfterMs),
  };
}

/** How often the holder renews its lock: every third of its TTL (at least 100 ms), so retries and a long `Retry-After` never outlive it. */
export function lockRenewalMs(timing: FleetTiming): number {
  return Math.max(100, Math.floor(timing.lockTtlMs / 3));
}

/** How long a shared store is left alone after it failed (this process alone issues meanwhile). */
export const STORE_REST_AFTER_FAILURE_MS = 5_000;

/** When a process waiting on another's fetch gives up, epoch ms: the longest fetch, and the lock's TTL for a holder that died. */
export function fleetGiveUpAt(timing: FleetTiming, now: number): number {
  return now + timing.longestFetchMs + timing.lockTtlMs;
}
