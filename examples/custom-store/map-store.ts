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
import type { CallBudget, IssuanceLedger, LedgerDecision, SharedTokenStore, Token } from 'tokenbroker';

/** What every store on one backing shares: in your store, the database. */
export class MapBacking {
  /** Tokens with the time they are forgotten (epoch ms). */
  readonly tokens = new Map<string, { readonly token: Token; readonly until: number }>();
  /** The lock per credential: its owner value and the end of its lease. */
  readonly locks = new Map<string, { readonly owner: string; until: number }>();
  /** The issuance ledger: reservations per credential with the time each counts from. */
  readonly ledger = new Map<string, Array<{ readonly id: string; at: number }>>();
  /** The call budget: per credential, each API call with the time its slot counts from, and the end of a 429 pause. */
  readonly calls = new Map<string, { log: Array<{ readonly id: string; at: number }>; pausedUntil: number }>();
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

  /** The call log of `key`, made on first use. */
  const calls = (key: string) => backing.calls.get(key) ?? backing.calls.set(key, { log: [], pausedUntil: 0 }).get(key)!;

  // A sliding-window log with reserved slots (docs/rate-limits.md): a call goes at the earliest time
  // that leaves fewer than `requests` calls ahead of it within `perMs`, and not before a pause ends.
  const callBudget: CallBudget = {
    async reserve(key, id, limit, maxWaitMs) {
      const now = Date.now();
      const budget = calls(key);
      budget.log = budget.log.filter((call) => call.at > now - limit.perMs);
      // A waiter's second look: its own entry goes, and only the calls placed at or before it are ahead.
      const mine = budget.log.find((call) => call.id === id);
      budget.log = budget.log.filter((call) => call !== mine);
      const ahead = budget.log
        .filter((call) => mine === undefined || call.at <= mine.at)
        .map((call) => call.at)
        .sort((a, b) => a - b);
      let at = Math.max(now, budget.pausedUntil);
      if (ahead.length >= limit.requests) at = Math.max(at, ahead[ahead.length - limit.requests]! + limit.perMs);
      const wait = at - now;
      if (wait > maxWaitMs) return -wait; // a refusal holds nothing
      budget.log.push({ id, at });
      return wait;
    },
    async confirm(key, id) {
      // The answer arrived: the call counts from now, never from earlier than its slot.
      const call = backing.calls.get(key)?.log.find((candidate) => candidate.id === id);
      if (call !== undefined) call.at = Math.max(call.at, Date.now());
    },
    async release(key, id) {
      const budget = backing.calls.get(key);
      if (budget !== undefined) budget.log = budget.log.filter((call) => call.id !== id);
    },
    async pause(key, pauseMs) {
      const budget = calls(key);
      budget.pausedUntil = Math.max(budget.pausedUntil, Date.now() + pauseMs); // a longer pause already set stays
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
    callBudget,
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
