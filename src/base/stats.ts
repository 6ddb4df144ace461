/**
 * Counters of what the manager did, per provider id and in total.
 */

/** Every reason a new token is asked for, in the order reports list them. */
export const ISSUE_REASONS = ['coldStart', 'expiry', 'refreshAhead', 'invalidated', 'forced'] as const;

/** Why a new token was asked for. */
export type IssueReason = (typeof ISSUE_REASONS)[number];

/** The event counters besides tokens issued, in the order reports list them. */
export const EVENT_COUNTERS = [
  'hits',
  'misses',
  'deduplicated',
  'requestsSent',
  'failures',
  'guardRefusals',
  'cooledDown',
  // Pacing (issue 20, docs/rate-limits.md).
  'paceWaitMs',
  'paceRefused',
  'apiRateLimited',
] as const;

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

/** What `tokens.stats()` returns. */
export interface ManagerStats extends ProviderStats {
  /** The same counters per provider id. */
  readonly byProvider: Record<string, ProviderStats>;
}

/** The counters few credentials ever move: kept apart, and made on the first count. */
class RareCounters {
  deduplicated = 0;
  failures = 0;
  guardRefusals = 0;
  cooledDown = 0;
  invalidated = 0;
  forced = 0;
  paceWaitMs = 0;
  paceRefused = 0;
  apiRateLimited = 0;
}

/**
 * The live counters. The ones every credential moves are number fields, so counting on the warm path
 * allocates nothing and a credential's registration (which extends this class) carries them in its own
 * object; the rarely moved ones live in one object made on their first count (accessors below), which
 * saves a broker 40 bytes per credential that never sees a failure.
 */
export class Counters {
  hits = 0;
  misses = 0;
  requestsSent = 0;
  coldStart = 0;
  expiry = 0;
  refreshAhead = 0;
  #rare: RareCounters | undefined = undefined;

  get deduplicated(): number {
    return this.#rare?.deduplicated ?? 0;
  }
  set deduplicated(value: number) {
    (this.#rare ??= new RareCounters()).deduplicated = value;
  }
  get failures(): number {
    return this.#rare?.failures ?? 0;
  }
  set failures(value: number) {
    (this.#rare ??= new RareCounters()).failures = value;
  }
  get guardRefusals(): number {
    return this.#rare?.guardRefusals ?? 0;
  }
  set guardRefusals(value: number) {
    (this.#rare ??= new RareCounters()).guardRefusals = value;
  }
  get cooledDown(): number {
    return this.#rare?.cooledDown ?? 0;
  }
  set cooledDown(value: number) {
    (this.#rare ??= new RareCounters()).cooledDown = value;
  }
  get paceWaitMs(): number {
    return this.#rare?.paceWaitMs ?? 0;
  }
  set paceWaitMs(value: number) {
    (this.#rare ??= new RareCounters()).paceWaitMs = value;
  }
  get paceRefused(): number {
    return this.#rare?.paceRefused ?? 0;
  }
  set paceRefused(value: number) {
    (this.#rare ??= new RareCounters()).paceRefused = value;
  }
  get apiRateLimited(): number {
    return this.#rare?.apiRateLimited ?? 0;
  }
  set apiRateLimited(value: number) {
    (this.#rare ??= new RareCounters()).apiRateLimited = value;
  }
  get invalidated(): number {
    return this.#rare?.invalidated ?? 0;
  }
  set invalidated(value: number) {
    (this.#rare ??= new RareCounters()).invalidated = value;
  }
  get forced(): number {
    return this.#rare?.forced ?? 0;
  }
  set forced(value: number) {
    (this.#rare ??= new RareCounters()).forced = value;
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
