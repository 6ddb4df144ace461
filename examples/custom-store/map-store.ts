/**
 * A complete custom `SharedTokenStore`, small enough to read in one go: the template for your own
 * store (on PostgreSQL, DynamoDB, etcd, …) and a store several token managers in one process can share.
 * Everything the processes share lives in a `MapBacking`; in your store that is your database, and each
 * method below is one atomic operation on it (a transaction, a conditional write, a script).
 *
 * Proven by the conformance suite: examples/custom-store/map-store.test.ts (vitest) and
 * map-store.node-test.ts (node:test). See docs/custom-store.md.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IssuanceLedger, LedgerDecision, SharedTokenStore, Token } from 'tokenbroker';

/** What every store on one backing shares: in your store, the database. */
export class MapBacking {
  /** Tokens with the time they are forgotten (epoch ms). */
  readonly tokens = new Map<string, { readonly token: Token; readonly until: number }>();
  /** The lock per credential: its owner value and the end of its lease. */
  readonly locks = new Map<string, { readonly owner: string; until: number }>();
  /** The issuance ledger: reservations per credential with the time each counts from. */
  readonly ledger = new Map<string, Array<{ readonly id: string; at: number }>>();
  /** Tells waiters a token was stored (event name: the key). In Redis: pub/sub; in SQLite: nothing, polling. */
  readonly stored = new EventEmitter().setMaxListeners(0);
}

/** Options of {@link mapStore}. */
export interface MapStoreOptions {
  /** How often a waiter looks again when nothing wakes it: how soon it sees a lease run out (default 50 ms). */
  readonly pollIntervalMs?: number;
}

/** A {@link SharedTokenStore} on `backing`. Stores on one backing behave like processes sharing one database. */
export function mapStore(backing: MapBacking, options: MapStoreOptions = {}): SharedTokenStore {
  const pollIntervalMs = options.pollIntervalMs ?? 50;
  const closing = new AbortController();

  /** The token for `key`, forgetting it once its TTL has passed. */
  const read = (key: string): Token | undefined => {
    const stored = backing.tokens.get(key);
    if (stored !== undefined && stored.until <= Date.now()) backing.tokens.delete(key);
    return stored !== undefined && stored.until > Date.now() ? stored.token : undefined;
  };
  /** The lock's holder, or undefined when it is free or its lease has run out (a dead holder lets go). */
  const holder = (key: string): { owner: string; until: number } | undefined => {
    const lock = backing.locks.get(key);
    return lock !== undefined && lock.until > Date.now() ? lock : undefined;
  };

  const ledger: IssuanceLedger = {
    async reserve(key, now, limit, windowMs): Promise<LedgerDecision> {
      const live = (backing.ledger.get(key) ?? []).filter((entry) => entry.at > now - windowMs);
      backing.ledger.set(key, live);
      if (live.length >= limit) {
        const oldest = Math.min(...live.map((entry) => entry.at));
        return { allowed: false, retryAfterMs: Math.max(1, oldest + windowMs - now) };
      }
      const id = randomBytes(12).toString('base64url');
      live.push({ id, at: now });
      return { allowed: true, reservation: id };
    },
    async release(key, reservation) {
      backing.ledger.set(
        key,
        (backing.ledger.get(key) ?? []).filter((entry) => entry.id !== reservation),
      );
    },
    async confirm(key, reservation, now) {
      const entry = backing.ledger.get(key)?.find((candidate) => candidate.id === reservation);
      if (entry !== undefined) entry.at = Math.max(entry.at, now);
    },
  };

  /** Resolves when a token is stored for `key`, after `ms`, or on an abort or close(), whichever comes first. */
  const nap = (key: string, ms: number, signal: AbortSignal): Promise<void> =>
    new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        backing.stored.off(key, done);
        signal.removeEventListener('abort', done);
        closing.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      backing.stored.on(key, done);
      signal.addEventListener('abort', done);
      closing.signal.addEventListener('abort', done);
    });

  return {
    shared: true,
    ledger,
    async get(key) {
      return read(key);
    },
    async set(key, token, ttlMs) {
      backing.tokens.set(key, { token, until: Date.now() + ttlMs });
      backing.stored.emit(key);
    },
    async delete(key, accessToken) {
      // Compare-and-delete: only while the stored token is still the one named.
      if (accessToken === undefined || read(key)?.accessToken === accessToken) backing.tokens.delete(key);
    },
    async acquireLock(key, ttlMs) {
      if (holder(key) !== undefined) return undefined;
      const owner = randomBytes(16).toString('base64url'); // unique: it proves ownership later
      backing.locks.set(key, { owner, until: Date.now() + ttlMs });
      return owner;
    },
    async releaseLock(key, owner) {
      if (holder(key)?.owner === owner) backing.locks.delete(key);
    },
    async extendLock(key, owner, ttlMs) {
      const lock = holder(key);
      if (lock?.owner !== owner) return false;
      lock.until = Date.now() + ttlMs;
      return true;
    },
    async waitForToken(key, timeoutMs, signal) {
      signal.throwIfAborted();
      // A duration: the monotonic clock, so a wall clock stepped meanwhile cannot stretch or cut it.
      const deadline = performance.now() + timeoutMs;
      // The token being replaced is not the answer. (A store with I/O subscribes before this first look.)
      const replaced = read(key)?.accessToken;
      for (;;) {
        if (closing.signal.aborted) return undefined;
        const token = read(key);
        if (token !== undefined && token.accessToken !== replaced) return token;
        // The lock is gone (released, or its holder died): the caller decides whether to take over.
        if (holder(key) === undefined) return token;
        const remaining = deadline - performance.now();
        if (remaining <= 0) return undefined;
        await nap(key, Math.min(remaining, pollIntervalMs), signal);
        signal.throwIfAborted();
      }
    },
    async close() {
      closing.abort();
    },
  };
}
