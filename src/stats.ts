/**
 * Counters of what the manager did, per provider id and in total.
 */

/** Every reason a new token is asked for, in the order reports list them. */
export const ISSUE_REASONS = ['coldStart', 'expiry', 'refreshAhead', 'invalidated', 'forced'] as const;

/** Why a new token was asked for. */
export type IssueReason = (typeof ISSUE_REASONS)[number];

/** The event counters besides tokens issued, in the order reports list them. */
export const EVENT_COUNTERS = ['hits', 'misses', 'deduplicated', 'requestsSent', 'failures', 'guardRefusals', 'cooledDown'] as const;

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

/**
 * The live counters: flat number fields, so that counting on the warm path allocates nothing and a
 * credential's registration (which extends this class) carries them in its own object.
 */
export class Counters {
  hits = 0;
  misses = 0;
  deduplicated = 0;
  requestsSent = 0;
  failures = 0;
  guardRefusals = 0;
  cooledDown = 0;
  coldStart = 0;
  expiry = 0;
  refreshAhead = 0;
  invalidated = 0;
  forced = 0;

  /** Adds `from` into these counters. */
  add(from: Counters): void {
    for (const name of EVENT_COUNTERS) this[name] += from[name];
    for (const reason of ISSUE_REASONS) this[reason] += from[reason];
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
