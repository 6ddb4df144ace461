/**
 * TokenManager: the cache policy, read top to bottom:
 *
 *   getToken ─ cached and fresh ───────────────────────────────► the cached promise (no I/O, no allocation)
 *            ─ cached, due for refresh ─ refresh once in the background, serve the current token
 *            ─ missing or expired ─ single-flight per credential (with a shared store: one lock per fleet)
 *                 └─ cool-down? ─ issuance guard ─ provider.requestToken with retries ─ validate ─ cache
 *
 * The mechanisms have modules of their own: issuing a token (guard, retries, cool-downs) in issuer.ts,
 * the fleet protocol over a shared store in fleet.ts, the wall-clock watch in clock-watch.ts, and every
 * number the policy computes (when a token is served, refreshed, cooled down, locked) in timing.ts. A
 * provider knows its wire format and a store knows storage; this file decides when each is used.
 */
import { inspect } from 'node:util';
import type { KyInstance } from 'ky';
import { createAuthorizedClient, createAuthorizedFetch } from './client.js';
import { Pacer } from './pacing.js';
import { ClockWatch } from './clock-watch.js';
import { ConfigError, DPoPRequiredError, IssuanceLimitError, ManagerClosedError, TokenError, UnknownProviderError } from '../base/errors.js';
import { Fleet } from './fleet.js';
import { errorForLog, Issuer } from './issuer.js';
import type { LogFn } from '../base/logger.js';
import { providerShape, resolveManagerOptions, type ResolvedManagerOptions, type TokenManagerOptions } from './options.js';
import type { Provider } from '../providers/provider.js';
import { Counters, type IssueReason, type ManagerStats, type ProviderStats } from '../base/stats.js';
import { Registration } from './registration.js';
import { sharedBudgetIssue } from './shared-budget.js';
import { localContract, memoryStore } from '../stores/memory.js';
import { CacheEntry } from '../stores/cache-entry.js';
import type { IssuanceLedger, LocalTokenStore } from '../stores/types.js';
import { issueWithRotation } from './secret-rotation.js';
import { observeManager } from './telemetry.js';
import { raceAbort } from '../base/timers.js';
import { authorizationValue, lifetimeMs, type Token } from '../base/token.js';
import { fleetTiming, nextRefreshAttemptAt, tokenTimes, usableForMs, type TokenTimingPolicy } from './timing.js';

/** Options of one `getToken` call. */
export interface GetTokenOptions {
  /** Stops waiting (the shared request goes on for the other callers). */
  readonly signal?: AbortSignal;
  /** Asks for a new token even if the cached one is fresh; still within the issuance guard's budget. */
  readonly forceRefresh?: boolean;
}

/**
 * Creates a token manager.
 *
 * @example
 * ```ts
 * const tokens = createTokenManager({
 *   providers: { ap: alternativePayments({ clientId, clientSecret, environment: 'demo' }) },
 * });
 * const { accessToken } = await tokens.getToken('ap');
 * ```
 * @throws {@link ConfigError} listing every invalid option.
 */
export function createTokenManager(options: TokenManagerOptions = {}): TokenManager {
  return new TokenManager(options);
}

/**
 * Hands out access tokens: cached, deduplicated, refreshed ahead of expiry and kept within an
 * issuance budget. Create it with {@link createTokenManager}.
 */
export class TokenManager {
  readonly #options: ResolvedManagerOptions;
  readonly #timing: TokenTimingPolicy;
  readonly #registrations = new Map<string, Registration>();
  readonly #local: LocalTokenStore;
  readonly #fleet: Fleet | undefined;
  readonly #issuer: Issuer;
  readonly #pacer: Pacer;
  readonly #inflight = new Map<string, Promise<Token>>();
  readonly #lifetime = new AbortController();
  // The watch holds this manager weakly and calls back through a static method, which closes over no
  // instance: an arrow here would share this initializer's scope, and with it `this`, with `#log`.
  readonly #clock = new ClockWatch(this, TokenManager.#onClockStep);
  readonly #unregisteredStats = new Counters();
  readonly #log: LogFn = (level, object, message) => {
    try {
      this.#options.logger?.[level](object, message);
    } catch {
      // A broken logger must not break token delivery.
    }
  };
  #closed = false;

  /** Use {@link createTokenManager}. */
  constructor(options: TokenManagerOptions = {}) {
    this.#options = resolveManagerOptions(options);
    const store = this.#options.store;
    const budgetIssue = sharedBudgetIssue(store, this.#options.providers, 'createTokenManager.store');
    if (budgetIssue !== undefined) throw new ConfigError([budgetIssue]);
    this.#local = localContract(store === undefined || store.shared ? memoryStore() : store);
    this.#issuer = new Issuer(this.#options, this.#lifetime.signal, this.#log, this);
    const { timeoutMs, retry } = this.#options;
    this.#fleet =
      store?.shared === true
        ? new Fleet(store, { timing: fleetTiming(timeoutMs, retry), signal: this.#lifetime.signal, log: this.#log, describe: errorForLog })
        : undefined;
    this.#pacer = Pacer.forStores(this.#local.callBudget, store, this.#options.maxWaitMs, this.#log, (id) => this.#registrations.get(id));
    this.#timing = this.#options.tokenTiming;
    for (const [id, provider] of Object.entries(this.#options.providers)) this.register(id, provider);
    observeManager(this);
  }

  // ------------------------------------------------------------------------------------------------
  // Getting tokens

  /**
   * A valid token for provider `id`. Warm calls return the cached token's promise without I/O.
   *
   * @throws {@link UnknownProviderError} for an unknown id; {@link ManagerClosedError} after `close()`;
   * the provider's {@link TokenError}s otherwise.
   */
  getToken(id: string, options?: GetTokenOptions): Promise<Token> {
    // The hot path: one map lookup and a clock read, returning a promise made when the token arrived.
    // A signal that has not fired changes nothing for a cached token, so it takes the hot path too.
    if (options === undefined || (options.forceRefresh !== true && options.signal?.aborted !== true)) {
      const registration = this.#registrations.get(id);
      const entry = registration?.entry;
      if (entry !== undefined && entry.live && Date.now() < entry.refreshAt) {
        registration!.hits++;
        return entry.promise;
      }
    }
    return this.#getTokenSlowly(id, options);
  }

  /**
   * `'Bearer <token>'` for provider `id`, ready for an `Authorization` header.
   *
   * @throws {@link DPoPRequiredError} for a provider whose tokens are DPoP-bound: such a token goes out
   * only with a proof made for each request's method and URL, which `fetch(id)` and `client(id)` add.
   * No token is fetched for it.
   */
  async getAuthorizationHeader(id: string, options?: GetTokenOptions): Promise<string> {
    if (this.#registration(id).provider.tokenType === 'DPoP') throw new DPoPRequiredError({ provider: id });
    const token = await this.getToken(id, options);
    // A custom provider may leave `tokenType` unset; the token itself still says it is bound.
    if (token.tokenType !== 'Bearer') throw new DPoPRequiredError({ provider: id });
    return authorizationValue(token.accessToken);
  }

  async #getTokenSlowly(id: string, options: GetTokenOptions | undefined): Promise<Token> {
    const registration = this.#registration(id);
    this.#assertOpen();
    options?.signal?.throwIfAborted();
    // Another id for the same credential may have cached it; after a rotation moved the credential to
    // a new key, the token got with the old secret is still held and served until it is refreshed.
    const entry = this.#local.get(registration.key) ?? (registration.entry?.live === true ? registration.entry : undefined);
    if (entry !== undefined) this.#hold(registration, entry);
    if (options?.forceRefresh === true) {
      return this.#waitFor(registration, this.#singleFlight(registration, 'forced', entry?.token.accessToken), options.signal);
    }
    const now = Date.now();
    if (entry !== undefined && now < entry.usableUntil) {
      registration.hits++;
      if (now >= entry.refreshAt) this.#refreshInBackground(registration, entry, now);
      return entry.token;
    }
    registration.misses++;
    const reason = registration.nextReason;
    return this.#waitFor(registration, this.#singleFlight(registration, reason, registration.staleAccessToken), options?.signal);
  }

  /** Refreshes once, in the background; the current token stays in service whatever happens. */
  #refreshInBackground(registration: Registration, entry: CacheEntry, now: number): void {
    if (this.#inflight.has(registration.key)) return;
    // The refresh point moves on first: if this refresh fails, later calls do not each start another.
    entry.refreshAt = nextRefreshAttemptAt(entry.usableUntil, now);
    this.#singleFlight(registration, 'refreshAhead', entry.token.accessToken).catch((error: unknown) => {
      this.#log(
        'warn',
        { provider: registration.id, error: errorForLog(error) },
        'background refresh failed; the current token stays in service until it expires',
      );
    });
  }

  /** One fetch per credential at a time: later callers join the one under way. */
  #singleFlight(registration: Registration, reason: IssueReason, staleAccessToken: string | undefined): Promise<Token> {
    const running = this.#inflight.get(registration.key);
    if (running !== undefined) {
      registration.deduplicated++;
      return running;
    }
    // Secret sources are read first, and once more after a refusal (see secret-rotation.ts). A changed
    // secret ends the refusal's cool-down, and may move the credential to a new key: this fetch is
    // registered under it too, so callers that arrive with the new key join it rather than start another.
    const keys = [registration.key];
    const rekeyed = () => {
      this.#issuer.endCooldown(registration.key);
      if (this.#inflight.has(registration.key)) return;
      keys.push(registration.key);
      this.#inflight.set(registration.key, fetching);
    };
    const issue = () => this.#issue(registration, reason, staleAccessToken);
    const fetching: Promise<Token> = issueWithRotation(registration, this.#log, issue, (error) => this.#currentOr(registration, error), rekeyed).finally(() => {
      for (const key of keys) if (this.#inflight.get(key) === fetching) this.#inflight.delete(key);
    });
    // Callers that stopped waiting (signal) must not turn a later failure into an unhandled rejection.
    fetching.catch(() => {});
    this.#inflight.set(keys[0]!, fetching);
    return fetching;
  }

  /**
   * A new token: not during a cool-down; across the fleet when a shared store answers, else from the
   * provider directly. A refusal (cool-down, spent budget) still serves a usable cached token.
   */
  async #issue(registration: Registration, reason: IssueReason, staleAccessToken: string | undefined): Promise<Token> {
    const cooldown = this.#issuer.cooldownError(registration.key, registration.id);
    if (cooldown !== undefined) {
      registration.cooledDown++;
      return this.#currentOr(registration, cooldown);
    }
    try {
      const fleet = this.#fleet;
      if (fleet === undefined || !fleet.available) return await this.#fromProvider(registration, reason, this.#local.ledger);
      return await fleet.issue({
        key: registration.key,
        id: registration.id,
        staleAccessToken,
        isUsable: (token) => usableForMs(token, this.#timing, Date.now()) > 0,
        usableForMs: (token) => usableForMs(token, this.#timing, Date.now()),
        fromProvider: (ledger) => this.#fromProvider(registration, reason, ledger),
        adopt: (token) => this.#remember(registration, token),
        locally: () => this.#fromProvider(registration, reason, this.#local.ledger),
      });
    } catch (error) {
      if (error instanceof IssuanceLimitError) return this.#currentOr(registration, error);
      throw error;
    }
  }

  async #fromProvider(registration: Registration, reason: IssueReason, ledger: IssuanceLedger): Promise<Token> {
    const { token } = await this.#issuer.issue(registration, reason, ledger, this.#local.ledger, (error) => this.#fleet?.failed(error));
    this.#remember(registration, token);
    return token;
  }

  /** The still-usable cached token (under the current key, or the one held from before a rotation), or else `error`. */
  #currentOr(registration: Registration, error: TokenError): Token {
    const now = Date.now();
    const entry = this.#local.get(registration.key);
    if (entry !== undefined && now < entry.usableUntil) return entry.token;
    const held = registration.entry;
    if (held !== undefined && held.live && now < held.usableUntil) return held.token;
    throw error;
  }

  /** Caches `token` and makes it the registration's entry: the next warm hit returns it. */
  #remember(registration: Registration, token: Token): void {
    const times = tokenTimes(token, this.#timing);
    const entry = new CacheEntry(token, times, registration);
    this.#local.put(registration.key, entry, times.usableUntil - Date.now());
    registration.entry = entry;
    registration.lifetimeMs = lifetimeMs(token);
    registration.nextReason = 'expiry';
    registration.staleAccessToken = undefined;
    if (!this.#closed) this.#clock.start();
  }

  static #onClockStep(manager: TokenManager, jumpMs: number): void {
    manager.#clockSteppedBack(jumpMs);
  }

  /** The wall clock stepped back by `-jumpMs`: every cached deadline moves back by as much. */
  #clockSteppedBack(jumpMs: number): void {
    // Once per credential: several ids may share one (and so one entry).
    const keys = new Set(Array.from(this.#registrations.values(), (registration) => registration.key));
    for (const key of keys) {
      const entry = this.#local.get(key);
      if (entry === undefined) continue;
      // The token's own times move too: in the stepped-back clock, that is when it really expires.
      const { token } = entry;
      const shifted: Token = Object.freeze({ ...token, issuedAt: token.issuedAt + jumpMs, expiresAt: token.expiresAt + jumpMs });
      const moved = new CacheEntry(shifted, { usableUntil: entry.usableUntil + jumpMs, refreshAt: entry.refreshAt + jumpMs }, entry.holder);
      if (entry.holder?.entry === entry) entry.holder.entry = moved;
      this.#local.put(key, moved, moved.usableUntil - Date.now());
    }
    this.#log('warn', { steppedBackMs: -jumpMs }, 'the system clock stepped back; cached token deadlines moved back with it');
  }

  /** The registration's direct reference to its entry, which the store clears when it drops the entry. */
  #hold(registration: Registration, entry: CacheEntry): void {
    registration.entry = entry;
    registration.lifetimeMs = lifetimeMs(entry.token);
    entry.holder = registration;
  }

  /** The shared fetch as this caller's own promise: its own error object, under its own id. */
  #waitFor(registration: Registration, promise: Promise<Token>, signal: AbortSignal | undefined): Promise<Token> {
    const own = promise.catch((error: unknown) => {
      throw error instanceof TokenError ? error.forProvider(registration.id) : error;
    });
    return signal === undefined ? own : raceAbort(own, signal);
  }

  // ------------------------------------------------------------------------------------------------
  // Invalidation, registration, observation, shutdown

  /**
   * Drops `accessToken` if it is still the current token of `id` (a newer one is kept), so the next
   * call fetches a fresh one. Without `accessToken`, drops whatever is current.
   * @returns whether a token was dropped from this process's cache.
   */
  invalidate(id: string, accessToken?: string): boolean {
    const registration = this.#registration(id);
    const dropped = this.#local.remove(registration.key, accessToken);
    if (dropped) {
      registration.nextReason = 'invalidated';
      registration.staleAccessToken = accessToken;
    }
    if (this.#fleet?.available === true) this.#fleet.invalidate(registration.key, accessToken);
    return dropped;
  }

  /**
   * Adds (or replaces) a provider at run time — for brokers and multi-tenant apps. Memory stays bounded
   * by the store's `max`; an evicted credential is fetched again when next needed.
   */
  register(id: string, provider: Provider): void {
    this.#assertOpen();
    const issues = [];
    if (typeof id !== 'string' || id.length === 0) issues.push({ path: 'register.id', message: 'must be a non-empty string' });
    if (!providerShape().safeParse(provider).success) {
      issues.push({ path: `register.${String(id)}`, message: 'must be a provider made by alternativePayments(), autopay(), oauth2() or defineProvider()' });
    }
    if (issues.length > 0) throw new ConfigError(issues);
    // A paced provider on a shared store with no call budget could only be paced per process.
    const budgetIssue = sharedBudgetIssue(this.#options.store, { [id]: provider }, `register.${id}`);
    if (budgetIssue !== undefined) throw new ConfigError([budgetIssue]);
    const registration = new Registration(id, provider);
    const previous = this.#registrations.get(id);
    if (previous !== undefined) registration.add(previous); // replacing a provider keeps the id's counters
    this.#registrations.set(id, registration);
  }

  /**
   * Removes provider `id`. Its cached token is left to age out of the LRU, and its issuance budget is
   * kept, so unregistering and registering again can neither cost a token nor dodge the guard.
   * @returns whether `id` was registered.
   */
  unregister(id: string): boolean {
    const registration = this.#registrations.get(id);
    if (registration === undefined) return false;
    this.#registrations.delete(id);
    this.#unregisteredStats.add(registration);
    return true;
  }

  /** Ids of the registered providers. */
  providerIds(): string[] {
    return [...this.#registrations.keys()];
  }

  /** Counters: hits, misses, requests sent, deduplicated callers, failures, tokens issued by reason… */
  stats(): ManagerStats {
    const total = new Counters();
    total.add(this.#unregisteredStats);
    const byProvider: Record<string, ProviderStats> = {};
    for (const [id, registration] of this.#registrations) {
      byProvider[id] = registration.snapshot();
      total.add(registration);
    }
    return { ...total.snapshot(), byProvider };
  }

  /**
   * A `ky` instance for provider `id`'s API: `prefix` is the provider's API base URL and every request
   * carries a valid token. A 401 invalidates that token and retries once with a fresh one. Paced by the
   * provider's `rateLimit` (docs/rate-limits.md).
   */
  client(id: string): KyInstance {
    const registration = this.#registration(id);
    return createAuthorizedClient(this, id, registration.provider.apiBaseUrl, registration.provider, this.#pacer);
  }

  /** A `fetch`-compatible function for provider `id`, with the same token, 401 and pacing behaviour as {@link client}. */
  fetch(id: string): typeof globalThis.fetch {
    const registration = this.#registration(id);
    return createAuthorizedFetch(this, id, registration.provider.apiBaseUrl, globalThis.fetch, registration.provider, this.#pacer);
  }

  /**
   * For code with its own HTTP client: resolves when a slot of `id`'s call budget is granted; send right
   * after (docs/rate-limits.md).
   * @throws {@link RateLimitedError} at once, nothing held, past `maxWaitMs`; the signal's reason on abort.
   */
  async acquire(id: string, options?: { signal?: AbortSignal }): Promise<void> {
    const registration = this.#registration(id);
    this.#assertOpen();
    await this.#pacer.grant(registration, options?.signal);
  }

  /** Feeds back an answer of `id`'s API got with your own client: a 429 pauses the credential everywhere; other statuses are ignored. */
  async reportRateLimited(id: string, response: { status: number; headers: Headers }): Promise<void> {
    await this.#pacer.report(this.#registration(id), response);
  }

  /** Stops background work, aborts requests under way and closes the store's own connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#lifetime.abort(new Error('token manager closed'));
    this.#clock.stop();
    await Promise.allSettled([...this.#inflight.values()]);
    await this.#local.close();
    await this.#fleet?.store.close();
  }

  #registration(id: string): Registration {
    const registration = this.#registrations.get(id);
    if (registration === undefined) throw new UnknownProviderError(String(id));
    return registration;
  }

  #assertOpen(): void {
    if (this.#closed) throw new ManagerClosedError();
  }

  /** Only the public shape: no tokens, no secrets. */
  [inspect.custom](): string {
    return `TokenManager ${inspect({ providers: this.providerIds(), store: this.#fleet === undefined ? 'memory' : 'shared', closed: this.#closed })}`;
  }

  /** Only the public shape: no tokens, no secrets. */
  toJSON(): unknown {
    return { providers: this.providerIds(), closed: this.#closed };
  }
}
