/**
 * The options of `createTokenManager`: their schema, defaults and the resolved form the manager uses.
 */
import { z } from 'zod';
import { DEFAULT_MAX_TOKENS } from './guard.js';
import type { RetryPolicy } from '../base/retry.js';
import type { Provider } from '../providers/provider.js';
import { isMemoryStore } from '../stores/memory.js';
import type { TokenStore } from '../stores/types.js';
import { durationMs, functionSchema, lazySchema, parseOptions } from '../base/validate.js';
import type { Logger } from '../base/logger.js';

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

/** The options with every default applied. */
export interface ResolvedOptions {
  readonly providers: Readonly<Record<string, Provider>>;
  readonly store: TokenStore | undefined;
  readonly skewMs: number;
  readonly refreshAheadRatio: number;
  readonly refreshAheadMinMs: number;
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
    skewMs: duration.optional(),
    refreshAhead: z.union([z.literal(false), z.strictObject({ ratio: z.number().min(0).max(0.5).optional(), minMs: duration.optional() })]).optional(),
    timeoutMs: duration.min(1).optional(),
    retry: z
      .strictObject({
        attempts: z.number().int().min(1).max(10).optional(),
        baseDelayMs: duration.optional(),
        maxDelayMs: duration.optional(),
        maxRetryAfterMs: duration.optional(),
      })
      .optional(),
    invalidCredentialsCooldownMs: duration.optional(),
    failureCooldownMs: duration.optional(),
    guard: z.strictObject({ maxTokens: z.number().int().min(1).optional(), windowMs: duration.min(1).optional() }).optional(),
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

/** Validates the options (one ConfigError listing every problem) and applies the defaults. */
export function resolveOptions(options: TokenManagerOptions): ResolvedOptions {
  const o = parseOptions(schema(), options, 'createTokenManager');
  const refreshAhead = o.refreshAhead === false ? { ratio: 0, minMs: 0 } : (o.refreshAhead ?? {});
  return {
    providers: (options.providers ?? {}) as Record<string, Provider>,
    store: options.store,
    skewMs: o.skewMs ?? 30_000,
    refreshAheadRatio: refreshAhead.ratio ?? 0.1,
    refreshAheadMinMs: refreshAhead.minMs ?? 60_000,
    timeoutMs: o.timeoutMs ?? 10_000,
    retry: {
      attempts: o.retry?.attempts ?? 3,
      baseDelayMs: o.retry?.baseDelayMs ?? 250,
      maxDelayMs: o.retry?.maxDelayMs ?? 10_000,
      maxRetryAfterMs: o.retry?.maxRetryAfterMs ?? 30_000,
    },
    invalidCredentialsCooldownMs: o.invalidCredentialsCooldownMs ?? 60_000,
    failureCooldownMs: o.failureCooldownMs ?? 1_000,
    guard: { maxTokens: o.guard?.maxTokens ?? DEFAULT_MAX_TOKENS, windowMs: o.guard?.windowMs },
    maxLifetimeMs: o.maxLifetimeMs ?? 24 * 60 * 60 * 1000,
    logger: options.logger,
    maxWaitMs: o.maxWaitMs ?? DEFAULT_MAX_WAIT_MS,
  };
}
