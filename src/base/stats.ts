/**
 * Counters of what the manager did, per provider id and in total.
 */

/** Every reason a new token is asked for, in the order reports list them. */
export const ISSUE_REASONS = ['coldStart', 'expiry', 'refreshAhead', 'invalidated', 'forced'] as const;

/** Why a new token was asked for. */
export type IssueReason = (typeof ISSUE_REASONS)[number];

/** One counter as every sink names it: `stats()` by `stat`, OpenTelemetry and Prometheus by `name`. */
export interface CounterSpec<Stat extends string = string> {
  /** The field of `tokens.stats()`. */
  readonly stat: Stat;
  /** The metric name without prefix, dotted: `tokenbroker.<name>` in OpenTelemetry, `tokenbroker_<name>_total` in Prometheus. */
  readonly name: string;
  /** What one count means (the metric's description and help). */
  readonly description: string;
  /** The OpenTelemetry unit (UCUM annotation), e.g. `{call}`. */
  readonly unit: string;
  /** The factor from the `stats()` value to the metric's unit (e.g. 0.001 from milliseconds to seconds); default 1. */
  readonly scale?: number;
}

/**
 * The one list of event counters besides tokens issued, in the order reports list them. `stats()`,
 * the OpenTelemetry binding (core/otel.ts) and the broker's Prometheus metrics (apps/broker/metrics.ts)
 * all derive their counters from it, so none can omit one (test/counters.test.ts).
 */
export const EVENT_COUNTER_TABLE = [
  { stat: 'hits', name: 'cache.hits', description: 'getToken calls answered from the cache', unit: '{call}' },
  { stat: 'misses', name: 'cache.misses', description: 'getToken calls that found no usable token', unit: '{call}' },
  { stat: 'deduplicated', name: 'deduplicated', description: 'callers that joined a token fetch already under way', unit: '{call}' },
  { stat: 'requestsSent', name: 'upstream.requests', description: 'HTTP token requests sent, retries included', unit: '{request}' },
  { stat: 'failures', name: 'upstream.failures', description: 'token fetches that failed after retries', unit: '{fetch}' },
  { stat: 'guardRefusals', name: 'guard.refusals', description: 'token fetches the issuance guard refused (no request sent)', unit: '{fetch}' },
  {
    stat: 'cooledDown',
    name: 'cooled_down',
    description: 'calls answered from a cool-down (invalid credentials, rate limit, recent failure) without a request',
    unit: '{call}',
  },
  // Pacing: docs/rate-limits.md.
  { stat: 'paceWaitMs', name: 'pacing.wait_seconds', description: 'time API calls waited for a slot of the call budget', unit: 's', scale: 0.001 },
  { stat: 'paceRefused', name: 'pacing.refused', description: 'API calls refused because their slot was past maxWaitMs (never sent)', unit: '{call}' },
  { stat: 'apiRateLimited', name: 'api.rate_limited', description: "HTTP 429 answers from the provider's API", unit: '{response}' },
] as const satisfies readonly CounterSpec[];

/** The counter of new tokens, by reason (`ISSUE_REASONS`): `stats().tokensIssued`. */
export const TOKENS_ISSUED_COUNTER = {
  stat: 'tokensIssued',
  name: 'tokens.issued',
  description: 'new tokens received, by reason',
  unit: '{token}',
} as const satisfies CounterSpec;

/** The name of an event counter. */
export type EventCounter = (typeof EVENT_COUNTER_TABLE)[number]['stat'];

/** The event counters' names, in the order of {@link EVENT_COUNTER_TABLE}. */
export const EVENT_COUNTERS: readonly EventCounter[] = EVENT_COUNTER_TABLE.map((counter) => counter.stat);

/** Counters of one provider id (or the total over all ids). */
export interface ProviderStats {
  /** `getToken` calls answered from the cache. */
  hits: number;
  /** `getToken` calls that found no usable token. */
  misses: number;
  /** Callers that joined a token request already under way instead of starting one. */
  deduplicated: number;
  /** HTTP token requests sent (every attempt, retries included). */
  requestsSent: number;
  /** Token fetches that ended in an error (after retries). */
  failures: number;
  /** Fetches the issuance guard refused. */
  guardRefusals: number;
  /** Calls answered from a cool-down (invalid credentials, rate limit, recent failure) without a request. */
  cooledDown: number;
  /** Pacing: total ms API calls waited for a slot of the credential's call budget. */
  paceWaitMs: number;
  /** Pacing: API calls refused with `RateLimitedError` because their slot was past `maxWaitMs` (never sent). */
  paceRefused: number;
  /** Pacing: 429 answers from the provider's API (through `client()`/`fetch()` or `reportRateLimited`). */
  apiRateLimited: number;
  /** New tokens received, by the reason they were asked for. */
  tokensIssued: Record<IssueReason, number> & {
    /** All new tokens, whatever the reason. */
    total: number;
  };
}

// The table and the public shape say the same: a counter missing from either fails to compile.
type SameKeys<A, B> = [Exclude<A, B>, Exclude<B, A>] extends [never, never] ? true : never;
const tableMatchesStats: SameKeys<EventCounter, Exclude<keyof ProviderStats, 'tokensIssued'>> = true;
void tableMatchesStats;

/** What `tokens.stats()` returns. */
export interface ManagerStats extends ProviderStats {
  /** The same counters per provider id. */
  readonly byProvider: Record<string, ProviderStats>;
}

/** The counters few credentials ever move: kept apart, in one object made on the first count. */
const RARE_COUNTERS = [
  'deduplicated',
  'failures',
  'guardRefusals',
  'cooledDown',
  'invalidated',
  'forced',
  'paceWaitMs',
  'paceRefused',
  'apiRateLimited',
] as const;

type RareCounter = (typeof RARE_COUNTERS)[number];

/** A fresh object of rare counters, all zero (one shape for every credential). */
function rareCounters(): Record<RareCounter, number> {
  return { deduplicated: 0, failures: 0, guardRefusals: 0, cooledDown: 0, invalidated: 0, forced: 0, paceWaitMs: 0, paceRefused: 0, apiRateLimited: 0 };
}

/**
 * The live counters. The ones every credential moves are number fields, so counting on the warm path
 * allocates nothing and a credential's registration (which extends this class) carries them in its own
 * object; the rarely moved ones (`RARE_COUNTERS`) live in one object made on their first count, through
 * accessors defined once below, which saves a broker 40 bytes per credential that never sees a failure.
 */
export class Counters {
  hits = 0;
  misses = 0;
  requestsSent = 0;
  coldStart = 0;
  expiry = 0;
  refreshAhead = 0;
  declare deduplicated: number;
  declare failures: number;
  declare guardRefusals: number;
  declare cooledDown: number;
  declare invalidated: number;
  declare forced: number;
  declare paceWaitMs: number;
  declare paceRefused: number;
  declare apiRateLimited: number;
  #rare: Record<RareCounter, number> | undefined = undefined;

  static {
    for (const name of RARE_COUNTERS) {
      Object.defineProperty(this.prototype, name, {
        get(this: Counters): number {
          return this.#rare?.[name] ?? 0;
        },
        set(this: Counters, value: number) {
          (this.#rare ??= rareCounters())[name] = value;
        },
        configurable: true,
      });
    }
  }

  /** Adds `from` into these counters. */
  add(from: Counters): void {
    for (const name of EVENT_COUNTERS) if (from[name] !== 0) this[name] += from[name];
    for (const reason of ISSUE_REASONS) if (from[reason] !== 0) this[reason] += from[reason];
  }

  /** A copy in the public shape, with the total of new tokens; callers cannot change the live counters. */
  snapshot(): ProviderStats {
    const tokensIssued = { total: 0 } as ProviderStats['tokensIssued'];
    for (const reason of ISSUE_REASONS) {
      tokensIssued[reason] = this[reason];
      tokensIssued.total += this[reason];
    }
    const stats = { tokensIssued } as ProviderStats;
    for (const name of EVENT_COUNTERS) stats[name] = this[name];
    return stats;
  }
}

/** Adds the public-shape `from` into `into` (sums over managers, at collection time). */
export function addSnapshot(into: ProviderStats, from: ProviderStats): void {
  for (const name of EVENT_COUNTERS) into[name] += from[name];
  for (const reason of ISSUE_REASONS) into.tokensIssued[reason] += from.tokensIssued[reason];
  into.tokensIssued.total += from.tokensIssued.total;
}
