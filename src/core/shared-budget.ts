/**
 * The construction check that keeps guarantee 7 (calls inside the limit, fleet-wide) from being
 * downgraded quietly: a shared store with no call budget could only let each process pace alone, so
 * N processes would send up to N times the limit. That is a configuration a manager refuses, at
 * construction and at `register`, naming the store, the paced ids and the two ways out. Without a
 * paced provider there is nothing to pace, so a store without a budget is fine.
 *
 * A budget that exists but fails at run time is another matter (an outage, not a configuration): the
 * pacer falls back to this process's budget with a warning (pacing.ts).
 */
import type { ConfigIssue } from '../base/errors.js';
import type { Provider } from '../providers/provider.js';
import type { TokenStore } from '../stores/types.js';

const METHODS = ['reserve', 'confirm', 'release', 'pause'] as const;

/**
 * The problem with `store`'s call budget for `providers` (by id), if any: missing while some of them
 * are paced, or not a call budget at all. `path` is the option the issue is reported at.
 */
export function sharedBudgetIssue(store: TokenStore | undefined, providers: Readonly<Record<string, Provider>>, path: string): ConfigIssue | undefined {
  if (store?.shared !== true) return undefined;
  // The type says it is there; a JavaScript caller (or a store written before it was) may leave it out.
  const budget = (store as { callBudget?: unknown }).callBudget;
  if (budget === undefined) {
    const paced = Object.keys(providers).filter((id) => providers[id]!.rateLimit !== undefined);
    if (paced.length === 0) return undefined;
    const ids = paced.map((id) => JSON.stringify(id)).join(', ');
    return {
      path,
      message:
        `the shared store (${storeName(store)}) has no callBudget, so the API calls of ${ids} (paced by their rateLimit) ` +
        `could only be paced by each process alone, and the processes together could exceed the limit. ` +
        `Give the store a call budget (docs/custom-store.md), or set rateLimit: false on ${paced.length === 1 ? 'that provider' : 'those providers'}`,
    };
  }
  const missing = METHODS.filter((method) => typeof (budget as Record<string, unknown> | null)?.[method] !== 'function');
  if (typeof budget !== 'object' || budget === null || missing.length > 0) {
    return { path, message: `the shared store's callBudget must be an object with the methods ${METHODS.join(', ')} (docs/custom-store.md)` };
  }
  return undefined;
}

/**
 * How the store is named in the message: its class, or "a plain object". Never its contents, which
 * may hold a connection string or a key.
 */
function storeName(store: object): string {
  const name = Object.getPrototypeOf(store)?.constructor?.name as unknown;
  return typeof name === 'string' && name !== '' && name !== 'Object' ? name : 'a plain object';
}
