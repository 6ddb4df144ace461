/**
 * The key layout: which Redis names one credential uses.
 *
 * Every name of a credential — token, lock, ledger, notification channel — carries the same hash tag
 * (`{…}`), so Redis Cluster puts them all in one slot and every script, transaction and sharded
 * notification touches one node. The cache key is hashed: bounded length, and no client id shows in a
 * key listing.
 *
 * The layout is versioned (`v2` in every name). A store of another layout (0.1.0 wrote
 * `<prefix>token:<id>`, no version, no hash tag) on the same Redis is therefore never read: its keys
 * are simply other keys, so the worst case is one fresh token per credential, never a wrong one.
 */
import { createHash } from 'node:crypto';

/** Bumped whenever the meaning of a stored name or value changes; old names are then left alone. */
export const KEY_LAYOUT_VERSION = 2;

/** The Redis names of one credential. */
export interface Names {
  readonly token: string;
  readonly lock: string;
  readonly ledger: string;
  /** The call budget's log (sorted set) and its pause (see call-budget.ts). */
  readonly calls: string;
  readonly callsPaused: string;
  /** The channel that tells waiters a token was stored (sharded under Cluster: same slot as the keys). */
  readonly channel: string;
}

/** Builds the names of a credential under one `keyPrefix`. */
export function namesFor(keyPrefix: string, cacheKey: string): Names {
  const id = createHash('sha256').update(cacheKey, 'utf8').digest('base64url');
  // A `{` or `}` in the prefix would make Redis hash on the prefix instead of the credential; that is
  // still correct (one slot for all), only less spread, so it is allowed rather than refused.
  const base = `${keyPrefix}v${KEY_LAYOUT_VERSION}:{${id}}:`;
  return {
    token: `${base}token`,
    lock: `${base}lock`,
    ledger: `${base}ledger`,
    calls: `${base}calls`,
    callsPaused: `${base}calls-paused`,
    channel: `${base}stored`,
  };
}
