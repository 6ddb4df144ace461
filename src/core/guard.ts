/**
 * The issuance guard: a rolling budget of new tokens per credential, so that no loop — of
 * `forceRefresh`, of `invalidate`, of restarts — can make a provider issue token after token.
 *
 * The window defaults to the lifetime of the credential's latest token: "at most N tokens per token
 * lifetime" means the same thing for a 5-minute token as for a 24-hour one. Normal use takes at most
 * about four per window — the first token (or the one after expiry), its refresh-ahead, one rotation
 * after a 401, one restart — so the default of 6 never gets in the way but stops a loop at once.
 */
import type { IssuanceLedger, LedgerDecision } from '../stores/types.js';
import type { QuotaHint } from '../base/token.js';
import { guardWindowMs } from './timing.js';

/** Settings of the issuance guard. */
export interface GuardOptions {
  /** New tokens allowed per credential within the window (default 6). */
  readonly maxTokens: number;
  /** Length of the rolling window in ms; default: the lifetime of the credential's latest token (1 hour before the first). */
  readonly windowMs?: number | undefined;
}

/** The default budget: see the module comment for why 6. */
export const DEFAULT_MAX_TOKENS = 6;

/**
 * Decides whether one more token may be requested for a credential. The lifetime that sets the window
 * is the caller's to keep (the manager keeps it on the registration, one number per credential); only
 * a provider-reported quota, which few providers send, is kept here.
 */
export class IssuanceGuard {
  readonly #options: GuardOptions;
  readonly #quotas = new Map<string, QuotaHint>();

  constructor(options: GuardOptions) {
    this.#options = options;
  }

  /**
   * Reserves room for one token in `ledger`, or says how long until there is room. A provider-reported
   * quota at zero refuses until its reset, whatever our own count says.
   */
  async reserve(ledger: IssuanceLedger, key: string, now: number, lifetimeMs: number): Promise<LedgerDecision> {
    const quota = this.#quotas.get(key);
    if (quota !== undefined) {
      if (now >= quota.resetAt) this.#quotas.delete(key);
      else if (quota.remaining <= 0) return { allowed: false, retryAfterMs: quota.resetAt - now };
    }
    return ledger.reserve(key, now, this.#options.maxTokens, guardWindowMs(this.#options.windowMs, lifetimeMs));
  }

  /** Learns the provider's own quota from a token response's headers. */
  observeQuota(key: string, quota: QuotaHint | undefined): void {
    if (quota !== undefined) this.#quotas.set(key, quota);
  }
}
