/**
 * Counters of what the manager did, per provider id and in total.
 */

/** Every reason a new token is asked for, in the order reports list them. */
export const ISSUE_REASONS = ['coldStart', 'expiry', 'refreshAhead', 'invalidated', 'forced'] as const;

/** Why a new token was asked for. */
export type IssueReason = (typeof ISSUE_REASONS)[number];

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

/** The live counters the manager increments: `tokensIssued` by reason only (the total is derived). */
export type Counters = Omit<ProviderStats, 'tokensIssued'> & { tokensIssued: Record<IssueReason, number> };

/** A fresh set of zeroed counters. */
export function emptyStats(): Counters {
  return {
    hits: 0,
    misses: 0,
    deduplicated: 0,
    requestsSent: 0,
    failures: 0,
    guardRefusals: 0,
    cooledDown: 0,
    tokensIssued: { coldStart: 0, expiry: 0, refreshAhead: 0, invalidated: 0, forced: 0 },
  };
}

/** Adds `from` into `into`. */
export function addStats(into: Counters, from: Counters): void {
  into.hits += from.hits;
  into.misses += from.misses;
  into.deduplicated += from.deduplicated;
  into.requestsSent += from.requestsSent;
  into.failures += from.failures;
  into.guardRefusals += from.guardRefusals;
  into.cooledDown += from.cooledDown;
  for (const reason of ISSUE_REASONS) into.tokensIssued[reason] += from.tokensIssued[reason];
}

/** A copy for callers, with the total of new tokens; they cannot change the live counters. */
export function snapshotStats(counters: Counters): ProviderStats {
  let total = 0;
  for (const reason of ISSUE_REASONS) total += counters.tokensIssued[reason];
  return { ...counters, tokensIssued: { ...counters.tokensIssued, total } };
}
