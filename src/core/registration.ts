/**
 * A registration: what the manager keeps per provider id. Its own module so that the policy in
 * manager.ts reads top to bottom without the bookkeeping.
 */
import { budgetKeyOf, type Provider } from '../providers/provider.js';
import { Counters, type IssueReason } from '../base/stats.js';
import type { CacheEntry } from '../stores/cache-entry.js';

/**
 * One registered id: its provider, its counters (inherited, flat) and its direct reference to the cache
 * entry. A class with every field set in the constructor, so all registrations share one shape and a
 * broker's tens of thousands of them cost one small object each.
 */
export class Registration extends Counters {
  readonly id: string;
  readonly provider: Provider;
  /** The cache entry last seen for this credential; trusted only while `entry.live`. */
  entry: CacheEntry | undefined = undefined;
  /** The reason the next fetch will carry: a cold start until the first token, then expiry unless something else caused it. */
  nextReason: IssueReason = 'coldStart';
  /** The token an invalidation dropped: never accepted back from a shared store. */
  staleAccessToken: string | undefined = undefined;
  /** The lifetime of the latest token seen, ms (0: none yet): the issuance guard's window follows it. */
  lifetimeMs = 0;

  constructor(id: string, provider: Provider) {
    super();
    this.id = id;
    this.provider = provider;
  }

  /** The credential's cache, lock and ledger key (a field of the provider: one string per credential, not two references). */
  get key(): string {
    return this.provider.cacheKey;
  }

  /** The credential's call-budget key: its cache key without the secret's part (a rotation keeps the budget). */
  get budgetKey(): string {
    return budgetKeyOf(this.provider.cacheKey);
  }

  /** The API's rate limit the credential's calls are paced at, if any. */
  get limit(): Provider['rateLimit'] {
    return this.provider.rateLimit;
  }
}
