/**
 * The storage contracts. The manager always keeps a local memory cache (the hot path, no I/O); a
 * shared store (SQLite on one host, Redis across hosts) can sit behind it, so that every process sharing
 * it shares tokens, locks and the issuance budget.
 */
import type { Token } from '../base/token.js';
import type { CacheEntry } from './cache-entry.js';
import type { CallBudget } from './call-budget.js';

/** The outcome of asking the issuance ledger for room for one more token. */
export type LedgerDecision =
  | {
      /** There was room: one token is reserved. */
      readonly allowed: true;
      /** Identifies the reservation, to release it if the request fails. */
      readonly reservation: string;
    }
  | {
      /** The budget is spent. */
      readonly allowed: false;
      /** When the oldest counted token leaves the window, ms from now. */
      readonly retryAfterMs: number;
    };

/**
 * Counts new tokens per credential in a rolling window. Reservations are made before a request is
 * sent (so concurrent fetchers cannot both slip under the limit) and released if it fails.
 */
export interface IssuanceLedger {
  /**
   * Atomically: forget entries older than `windowMs`; if fewer than `limit` remain, record one at `now`.
   * A shared ledger may use its server's clock instead of `now` (the Redis one does), so that processes
   * whose clocks disagree count one budget.
   */
  reserve(key: string, now: number, limit: number, windowMs: number): LedgerDecision | Promise<LedgerDecision>;
  /** Takes back a reservation whose request issued no token. */
  release(key: string, reservation: string): void | Promise<void>;
  /**
   * Moves a reservation to `now`, when its token was actually issued. Retries can put seconds between
   * the reservation and the issue, and a provider counts issues: without this, the provider could see
   * one token more than the budget in its own window. Optional; a ledger without it counts reservations.
   */
  confirm?(key: string, reservation: string, now: number): void | Promise<void>;
}

/**
 * A store that only this process sees: the manager's hot cache. Private to the package: the manager
 * trusts its entries' `live` flag on the warm hit, so only {@link memoryStore} implements it.
 */
export interface LocalTokenStore {
  /** Distinguishes the store kinds. */
  readonly shared: false;
  /** The local issuance ledger. */
  readonly ledger: IssuanceLedger;
  /** The in-process call budget (API pacing). */
  readonly callBudget: CallBudget;
  /** The cached entry for `key`, if present and not past its TTL, marked most recently used. Synchronous. */
  get(key: string): CacheEntry | undefined;
  /** Caches `entry` until `ttlMs` from now. */
  put(key: string, entry: CacheEntry, ttlMs: number): void;
  /** Drops the entry; with `accessToken`, only when it still holds that token. Returns whether it dropped one. */
  remove(key: string, accessToken?: string): boolean;
  /** Frees everything. */
  close(): Promise<void>;
}

/**
 * A store shared by several processes. All methods may fail (the network); the manager then falls
 * back to local behaviour and says so in a warning. Proven by the conformance suite
 * (`tokenbroker/testing`, docs/custom-store.md).
 */
export interface SharedTokenStore {
  /** Distinguishes the store kinds. */
  readonly shared: true;
  /** The fleet-wide issuance ledger. */
  readonly ledger: IssuanceLedger;
  /**
   * The shared call budget (API pacing, see docs/rate-limits.md): every process sharing the store paces
   * a credential's API calls in one budget. Required: without it, `createTokenManager` and `register`
   * refuse a provider with a `rateLimit` (a `ConfigError`), rather than let each process pace alone.
   */
  readonly callBudget: CallBudget;
  /** The stored token for `key`, if any. */
  get(key: string): Promise<Token | undefined>;
  /** Stores `token` for `ttlMs` (its remaining usable life). */
  set(key: string, token: Token, ttlMs: number): Promise<void>;
  /** Deletes the token; with `accessToken`, only if it is still that one (compare-and-delete). */
  delete(key: string, accessToken?: string): Promise<void>;
  /** Tries to become the one fetcher for `key`; returns an owner value, or undefined when another holds it. */
  acquireLock(key: string, ttlMs: number): Promise<string | undefined>;
  /** Releases the lock if `owner` still holds it. */
  releaseLock(key: string, owner: string): Promise<void>;
  /** Extends the lock to `ttlMs` from now if `owner` still holds it; false when it no longer does. */
  extendLock(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Resolves with the token once another process stores one for `key`, or undefined after `timeoutMs`. */
  waitForToken(key: string, timeoutMs: number, signal: AbortSignal): Promise<Token | undefined>;
  /** Closes connections the store opened itself, and ends pending waits. */
  close(): Promise<void>;
}

/**
 * The in-process store `memoryStore()` makes. Its cache contract is private to the token manager
 * (the warm hit depends on it); pass the store to `createTokenManager`.
 */
export interface MemoryStore {
  /** Distinguishes it from a shared store. */
  readonly shared: false;
  /** Credentials cached now. */
  readonly size: number;
  /** Frees every cached token. The manager calls it on `close()`. */
  close(): Promise<void>;
}

/** Either kind of store `createTokenManager` accepts: a {@link MemoryStore} or a shared store. */
export type TokenStore = MemoryStore | SharedTokenStore;

export type { CacheEntry } from './cache-entry.js';
export type { CallBudget, RateLimit } from './call-budget.js';
