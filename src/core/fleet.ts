/**
 * The fleet protocol over a shared store: a lock per credential elects one fetcher among every process
 * that shares the store; the others wait for the token it stores, and take over if it dies (its lock
 * expires). When the store fails, the caller is told to fall back to this process alone, and the store
 * is left to rest for a few seconds instead of paying its timeout on every fetch.
 */
import type { LogFn } from '../base/logger.js';
import { ProviderUnavailableError, TokenError } from '../base/errors.js';
import type { IssuanceLedger, SharedTokenStore } from '../stores/types.js';
import type { Token } from '../base/token.js';
import { fleetGiveUpAt, lockRenewalMs, STORE_REST_AFTER_FAILURE_MS, type FleetTiming } from './timing.js';

/** What the fleet protocol needs from its owner. */
export interface FleetOptions {
  /** The lock's time to live and the longest fetch (see core/timing.ts). */
  readonly timing: FleetTiming;
  /** Aborts every wait when the owner closes. */
  readonly signal: AbortSignal;
  /** Logs through the owner's logger (never throws). */
  readonly log: LogFn;
  /** Describes an error for a log line, without secrets. */
  readonly describe: (error: unknown) => unknown;
}

/** One credential's fetch, as the fleet protocol sees it. */
export interface FleetFetch {
  /** The store key of the credential. */
  readonly key: string;
  /** The id that asked, for the error when waiting fails. */
  readonly id: string;
  /** A token that was invalidated: never taken back from the store. */
  readonly staleAccessToken: string | undefined;
  /** Whether a stored token is still usable now (the owner's skew applies). */
  isUsable(token: Token): boolean;
  /** Ms the token may still be served: how long it is kept in the store. */
  usableForMs(token: Token): number;
  /** Asks the provider, counting against `ledger`. */
  fromProvider(ledger: IssuanceLedger): Promise<Token>;
  /** Takes a token another process fetched. */
  adopt(token: Token): void;
  /** The local path, used when the store fails. */
  locally(): Promise<Token>;
}

/** The protocol bound to one shared store. */
export class Fleet {
  readonly store: SharedTokenStore;
  readonly #options: FleetOptions;
  #downSince: number | undefined;

  constructor(store: SharedTokenStore, options: FleetOptions) {
    this.store = store;
    this.#options = options;
  }

  /** False for a few seconds after the store failed. */
  get available(): boolean {
    if (this.#downSince === undefined) return true;
    if (Date.now() - this.#downSince < STORE_REST_AFTER_FAILURE_MS) return false;
    this.#downSince = undefined;
    this.#options.log('info', {}, 'trying the shared store again');
    return true;
  }

  /** Notes a store failure: one warning per outage. */
  failed(error: unknown): void {
    if (this.#downSince === undefined) {
      this.#options.log(
        'warn',
        { error: this.#options.describe(error) },
        "shared store unavailable; falling back to this process's cache until it answers again",
      );
    }
    this.#downSince = Date.now();
  }

  /** Gets the token the fleet shares: stored, fetched under the lock, or waited for. */
  async issue(fetch: FleetFetch): Promise<Token> {
    const { store } = this;
    const { key } = fetch;
    const { timing, signal } = this.#options;
    const { lockTtlMs } = timing;
    const giveUpAt = fleetGiveUpAt(timing, Date.now());
    try {
      for (;;) {
        const stored = this.#acceptable(fetch, await store.get(key));
        if (stored !== undefined) return this.#adopted(fetch, stored);
        const owner = await store.acquireLock(key, lockTtlMs);
        if (owner !== undefined) return await this.#fetchUnderLock(fetch, owner);
        const waited = this.#acceptable(fetch, await store.waitForToken(key, lockTtlMs, signal));
        if (waited !== undefined) return this.#adopted(fetch, waited);
        if (Date.now() >= giveUpAt) {
          throw new ProviderUnavailableError('Gave up waiting for another process to fetch the token', { provider: fetch.id });
        }
      }
    } catch (error) {
      if (error instanceof TokenError || signal.aborted) throw error;
      this.failed(error);
      return fetch.locally();
    }
  }

  /** Drops a token fleet-wide (compare-and-delete); failures only rest the store. */
  invalidate(key: string, accessToken: string | undefined): void {
    this.store.delete(key, accessToken).catch((error: unknown) => this.failed(error));
  }

  async #fetchUnderLock(fetch: FleetFetch, owner: string): Promise<Token> {
    const { store } = this;
    const renewal = this.#keepLock(fetch.key, owner);
    try {
      // The previous holder may have stored its token just before releasing the lock.
      const justStored = this.#acceptable(fetch, await store.get(fetch.key));
      if (justStored !== undefined) return this.#adopted(fetch, justStored);
      const token = await fetch.fromProvider(store.ledger);
      if (token.accessToken !== fetch.staleAccessToken) {
        const ttlMs = fetch.usableForMs(token);
        if (ttlMs > 0) await store.set(fetch.key, token, ttlMs).catch((error: unknown) => this.failed(error));
      }
      return token;
    } finally {
      clearInterval(renewal);
      await store.releaseLock(fetch.key, owner).catch((error: unknown) => this.failed(error));
    }
  }

  /** Renewed every third of its TTL while the holder lives, so retries and a long `Retry-After` never outlive it. */
  #keepLock(key: string, owner: string): NodeJS.Timeout {
    const { timing } = this.#options;
    const renewal = setInterval(() => {
      this.store.extendLock(key, owner, timing.lockTtlMs).catch((error: unknown) => this.failed(error));
    }, lockRenewalMs(timing));
    renewal.unref(); // a renewal must never keep the process alive
    return renewal;
  }

  #acceptable(fetch: FleetFetch, token: Token | undefined): Token | undefined {
    if (token === undefined || token.accessToken === fetch.staleAccessToken) return undefined;
    return fetch.isUsable(token) ? token : undefined;
  }

  #adopted(fetch: FleetFetch, token: Token): Token {
    fetch.adopt(token);
    return token;
  }
}
