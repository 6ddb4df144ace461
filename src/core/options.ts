/**
 * The options of `createTokenManager`: their schema and the resolved form the manager uses. The timing
 * defaults and the arithmetic on them live beside each other in timing.ts.
 */
import { z } from 'zod';
import { DEFAULT_MAX_TOKENS } from './guard.js';
import type { RetryPolicy } from '../base/retry.js';
import type { Provider } from '../providers/provider.js';
import { isMemoryStore } from '../stores/memory.js';
import type { TokenStore } from '../stores/types.js';
import { durationMs, functionSchema, lazySchema, parseOptions } from '../base/validate.js';
import type { Logger } from '../base/logger.js';
import { TIMING_DEFAULTS, type TokenTimingPolicy } from './timing.js';

export type { Logger } from '../base/logger.js';

/** Options of `createTokenManager`. Every duration is in milliseconds. */
export interface TokenManagerOptions {
  /** Providers by id; more can be added later with `register`. */
  readonly providers?: Readonly<Record<string, Provider>>;
  /** Where tokens live: `memoryStore()` (default) or `redisStore(…)` to share them across processes. */
  readonly store?: TokenStore;
  /** A token is served only while `now < expiresAt − skewMs` (default 30 000). */
  readonly skewMs?: number;
  /**
   * When a token's remaining life falls under `max(ratio × lifetime, minMs)`, one caller refreshes it in
   * the background while everyone keeps the current one (default `{ ratio: 0.1, minMs: 60 000 }`);
   * `false` turns it off.
   */
  readonly refreshAhead?:
    | {
        /** Fraction of the lifetime, 0 to 0.5 (default 0.1). */
        readonly ratio?: number;
        /** Lower bound of the lead, ms (default 60 000); never more than half the lifetime. */
        readonly minMs?: number;
      }
    | false;
  /** Timeout of one token request attempt (default 10 000). */
  readonly timeoutMs?: number;
  /** Retries of failed token requests: network errors, timeouts, 5xx, 429 (default 3 attempts). */
  readonly retry?: Partial<RetryPolicy>;
  /** How long invalid credentials are remembered; callers get the same error without a request (default 60 000). */
  readonly invalidCredentialsCooldownMs?: number;
  /** After a token request failed on every attempt, callers get that error without a new request for this long (default 1 000). */
  readonly failureCooldownMs?: number;
  /** The issuance budget per credential (default `{ maxTokens: 6 }` per token lifetime). */
  readonly guard?: {
    /** New tokens allowed per credential within the window (default 6). */
    readonly maxTokens?: number;
    /** Rolling window, ms (default: the lifetime of the credential's latest token; 1 hour before the first). */
    readonly windowMs?: number;
  };
  /** Longest token lifetime believed; a longer `expires_in` is clamped (default 24 hours). */
  readonly maxLifetimeMs?: number;
  /** Where tokenbroker reports what it does (pino-compatible). Silent by default. */
  readonly logger?: Logger;
  /**
   * The longest an API call of a rate-limited provider waits for a slot of its call budget, 429 pauses
   * included, before it fails with `RateLimitedError` without being sent (default 5 000; see
   * docs/rate-limits.md for sizing it).
   */
  readonly maxWaitMs?: number;
}

/**
 * How long an API call may wait for a slot by default: at Alternative Payments' 5 calls a second, 25
 * calls queued per credential across the fleet — a burst a service absorbs, short enough that a caller
 * behind a request of its own hears back within its usual timeout.
 */
export const DEFAULT_MAX_WAIT_MS = 5_000;

/** The options of `createTokenManager` with every default applied. */
export interface ResolvedManagerOptions {
  readonly providers: Readonly<Record<string, Provider>>;
  readonly store: TokenStore | undefined;
  /** Skew and refresh-ahead, as core/timing.ts's `tokenTimes` takes them. */
  readonly tokenTiming: TokenTimingPolicy;
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
  readonly invalidCredentialsCooldownMs: number;
  readonly failureCooldownMs: number;
  readonly guard: { readonly maxTokens: number; readonly windowMs: number | undefined };
  readonly maxLifetimeMs: number;
  readonly logger: Logger | undefined;
  readonly maxWaitMs: number;
}

/** A value that looks like a Provider; `defineProvider` and the factories make them. */
export const providerShape = lazySchema(() =>
  z.looseObject({
    kind: z.string().min(1),
    cacheKey: z.string().min(1),
    apiBaseUrl: z.string().optional(),
    requestToken: functionSchema(),
  }),
);

const schema = lazySchema(() => {
  const storeShape = z.custom<TokenStore>(
    (value) =>
      isMemoryStore(value) ||
      (typeof value === 'object' &&
        value !== null &&
        (value as { shared?: unknown }).shared === true &&
        typeof (value as { ledger?: unknown }).ledger === 'object'),
    'must be memoryStore(), sqliteStore(), redisStore() or another SharedTokenStore',
  );
  const duration = durationMs();
  return z.strictObject({
    providers: z.record(z.string().min(1), providerShape()).optional(),
    store: storeShape.optional(),
    /** A token is served only while `now < expiresAt − skewMs` (default 30 000). */
    skewMs: duration.optional(),
    refreshAhead: z.union([z.literal(false), z.strictObject({ ratio: z.number().min(0).max(0.5).optional(), minMs: duration.optional() })]).optional(),
    /** Timeout of one token request attempt (default 10 000). */
    timeoutMs: duration.min(1).optional(),
    /** Retries of failed token requests (default 3 attempts). */
    retry: z
      .strictObject({
        /** Attempts in all, 1 to 10 (default 3). */
        attempts: z.number().int().min(1).max(10).optional(),
        /** Cap of the first backoff, doubled per attempt (default 250). */
        baseDelayMs: duration.optional(),
        /** Longest backoff (default 10 000). */
        maxDelayMs: duration.optional(),
        /** Longest `Retry-After` waited out; a longer one ends the retries (default 30 000). */
        maxRetryAfterMs: duration.optional(),
      })
      .optional(),
    /** How long refused credentials are remembered (default 60 000). */
    invalidCredentialsCooldownMs: duration.optional(),
    /** How long any other failed fetch is remembered (default 1 000). */
    failureCooldownMs: duration.optional(),
    /** The issuance budget per credential (default 6 per token lifetime). */
    guard: z
      .strictObject({
        /** New tokens allowed per credential within the window (default 6). */
        maxTokens: z.number().int().min(1).optional(),
        /** Rolling window, ms (default: the latest token's lifetime). */
        windowMs: duration.min(1).optional(),
      })
      .optional(),
    maxLifetimeMs: duration.min(1000).optional(),
    logger: z.looseObject({ debug: functionSchema(), info: functionSchema(), warn: functionSchema(), error: functionSchema() }).optional(),
    maxWaitMs: duration.max(600_000).optional(),
  });
});

/**
 * The manager's timing options (timeouts, skew, retries, the guard, cool-downs): the broker's `tokens`
 * section is validated with this very schema, so both say the same about the same option.
 */
export const managerTimingSchema = lazySchema(() =>
  schema().pick({
    timeoutMs: true,
    skewMs: true,
    retry: true,
    guard: true,
    invalidCredentialsCooldownMs: true,
    failureCooldownMs: true,
  }),
);

/** Validates the options of `createTokenManager` (one ConfigError listing every problem) and applies the defaults of core/timing.ts. */
export function resolveManagerOptions(options: TokenManagerOptions): ResolvedManagerOptions {
  const o = parseOptions(schema(), options, 'createTokenManager');
  const d = TIMING_DEFAULTS;
  const refreshAhead = o.refreshAhead === false ? { ratio: 0, minMs: 0 } : (o.refreshAhead ?? {});
  return {
    providers: (options.providers ?? {}) as Record<string, Provider>,
    store: options.store,
    tokenTiming: {
      skewMs: o.skewMs ?? d.skewMs,
      refreshAheadRatio: refreshAhead.ratio ?? d.refreshAheadRatio,
      refreshAheadMinMs: refreshAhead.minMs ?? d.refreshAheadMinMs,
    },
    timeoutMs: o.timeoutMs ?? d.timeoutMs,
    retry: {
      attempts: o.retry?.attempts ?? d.retry.attempts,
      baseDelayMs: o.retry?.baseDelayMs ?? d.retry.baseDelayMs,
      maxDelayMs: o.retry?.maxDelayMs ?? d.retry.maxDelayMs,
      maxRetryAfterMs: o.retry?.maxRetryAfterMs ?? d.retry.maxRetryAfterMs,
    },
    invalidCredentialsCooldownMs: o.invalidCredentialsCooldownMs ?? d.invalidCredentialsCooldownMs,
    failureCooldownMs: o.failureCooldownMs ?? d.failureCooldownMs,
    guard: { maxTokens: o.guard?.maxTokens ?? DEFAULT_MAX_TOKENS, windowMs: o.guard?.windowMs },
    maxLifetimeMs: o.maxLifetimeMs ?? d.maxLifetimeMs,
    logger: options.logger,
    maxWaitMs: o.maxWaitMs ?? DEFAULT_MAX_WAIT_MS,
  };
}
