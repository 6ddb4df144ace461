/**
 * TokenManager: the cache policy. Read top to bottom:
 *
 *   getToken ─ cached and fresh ───────────────────────────────► the cached promise (no I/O, no allocation)
 *            ─ cached, due for refresh ─ refresh once in the background, serve the current token
 *            ─ missing or expired ─ single-flight per credential (with a shared store: one lock per fleet)
 *                 └─ cool-down? ─ issuance guard ─ provider.requestToken with retries ─ validate ─ cache
 *
 * A provider knows its wire format, a store knows storage; only this file knows policy.
 */
import { inspect } from 'node:util';
import type { KyInstance } from 'ky';
import { createAuthorizedClient, createAuthorizedFetch } from './client.js';
import {
  ConfigError,
  InvalidCredentialsError,
  IssuanceLimitError,
  ProviderUnavailableError,
  RateLimitedError,
  TokenError,
} from './errors.js';
import { IssuanceGuard } from './guard.js';
import { attemptSignal, transportError, withRetries } from './http.js';
import { providerShape, resolveOptions, type ResolvedOptions, type TokenManagerOptions } from './options.js';
import type { Provider, QuotaHint } from './provider.js';
import { scrub } from './redact.js';
import { addStats, emptyStats, snapshotStats, type Counters, type IssueReason, type ManagerStats, type ProviderStats } from './stats.js';
import { memoryStore } from './stores/memory.js';
import type { CacheEntry, IssuanceLedger, LocalTokenStore, SharedTokenStore } from './stores/types.js';
import { observeManager, traceTokenFetch } from './telemetry.js';
import { authorizationHeader, parseTokenResponse, tokenTimes, type Token, type TokenTimingPolicy } from './token.js';

/** Options of one `getToken` call. */
export interface GetTokenOptions {
  /** Stops waiting (the shared request goes on for the other callers). */
  readonly signal?: AbortSignal;
  /** Asks for a new token even if the cached one is fresh; still within the issuance guard's budget. */
  readonly forceRefresh?: boolean;
}

interface Registration {
  readonly id: string;
  readonly provider: Provider;
  readonly key: string;
  readonly stats: Counters;
  /** The cache entry last seen for this credential; trusted only while `entry.live`. */
  entry: CacheEntry | undefined;
  /** The reason the next fetch will carry, when something other than expiry caused it. */
  nextReason: IssueReason | undefined;
  /** The token an invalidation dropped: never accepted back from a shared store. */
  staleAccessToken: string | undefined;
  hadToken: boolean;
}

interface Cooldown {
  readonly until: number;
  readonly error: TokenError;
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
  readonly #options: ResolvedOptions;
  readonly #timing: TokenTimingPolicy;
  readonly #registrations = new Map<string, Registration>();
  readonly #local: LocalTokenStore;
  readonly #shared: SharedTokenStore | undefined;
  readonly #guard: IssuanceGuard;
  readonly #inflight = new Map<string, Promise<Token>>();
  readonly #cooldowns = new Map<string, Cooldown>();
  readonly #lifetime = new AbortController();
  readonly #unregisteredStats = emptyStats();
  #sharedDownSince: number | undefined;
  #closed = false;
  /** Watches for the wall clock stepping back (see `#checkClock`); started with the first cached token. */
  #clockWatch: ReturnType<typeof setInterval> | undefined;
  #clockOffset = 0;

  /** Use {@link createTokenManager}. */
  constructor(options: TokenManagerOptions = {}) {
    this.#options = resolveOptions(options);
    const store = this.#options.store;
    this.#local = store === undefined || store.shared ? memoryStore() : store;
    this.#shared = store?.shared === true ? store : undefined;
    this.#guard = new IssuanceGuard(this.#options.guard);
    this.#timing = {
      skewMs: this.#options.skewMs,
      refreshAheadRatio: this.#options.refreshAheadRatio,
      refreshAheadMinMs: this.#options.refreshAheadMinMs,
    };
    for (const [id, provider] of Object.entries(this.#options.providers)) this.register(id, provider);
    observeManager(this);
  }

  // ------------------------------------------------------------------------------------------------
  // Getting tokens

  /**
   * A valid token for provider `id`. Warm calls return the cached token's promise without I/O.
   *
   * @throws {@link ConfigError} for an unknown id; the provider's {@link TokenError}s otherwise.
   */
  getToken(id: string, options?: GetTokenOptions): Promise<Token> {
    // The hot path: one map lookup and a clock read, returning a promise made when the token arrived.
    // A signal that has not fired changes nothing for a cached token, so it takes the hot path too.
    if (options === undefined || (options.forceRefresh !== true && options.signal?.aborted !== true)) {
      const registration = this.#registrations.get(id);
      const entry = registration?.entry;
      if (entry !== undefined && entry.live && Date.now() < entry.refreshAt) {
        registration!.stats.hits++;
        return entry.promise;
      }
    }
    return this.#getTokenSlowly(id, options);
  }

  /** `'Bearer <token>'` for provider `id`, ready for an `Authorization` header. */
  async getAuthorizationHeader(id: string, options?: GetTokenOptions): Promise<string> {
    return authorizationHeader(await this.getToken(id, options));
  }

  async #getTokenSlowly(id: string, options: GetTokenOptions | undefined): Promise<Token> {
    const registration = this.#registration(id);
    this.#assertOpen();
    options?.signal?.throwIfAborted();
    const entry = this.#local.peek(registration.key);
    if (entry !== undefined) this.#hold(registration, entry); // another id for the same credential may have cached it
    if (options?.forceRefresh === true) {
      return this.#waitFor(this.#fetch(registration, 'forced', entry?.token.accessToken), options.signal);
    }
    const now = Date.now();
    if (entry !== undefined && now < entry.usableUntil) {
      registration.stats.hits++;
      if (now >= entry.refreshAt) this.#refreshInBackground(registration, entry, now);
      return entry.token;
    }
    registration.stats.misses++;
    const reason = registration.nextReason ?? (registration.hadToken ? 'expiry' : 'coldStart');
    return this.#waitFor(this.#fetch(registration, reason, registration.staleAccessToken), options?.signal);
  }

  /** Refreshes once, in the background; the current token stays in service whatever happens. */
  #refreshInBackground(registration: Registration, entry: CacheEntry, now: number): void {
    if (this.#inflight.has(registration.key)) return;
    // Push the refresh point on first, so that if this refresh fails the following calls do not each
    // start another one; the next try comes after a pause that shrinks as expiry nears. Never past the
    // usable end: the hot path trusts `refreshAt` alone.
    const pause = Math.max(1000, Math.min(60_000, (entry.usableUntil - now) / 4));
    entry.refreshAt = Math.min(entry.usableUntil, now + pause);
    this.#fetch(registration, 'refreshAhead', entry.token.accessToken).catch((error: unknown) => {
      this.#log('warn', { provider: registration.id, error: describe(error) }, 'background refresh failed; the current token stays in service until it expires');
    });
  }

  // ------------------------------------------------------------------------------------------------
  // Single-flight

  /** One fetch per credential at a time: later callers join the one under way. */
  #fetch(registration: Registration, reason: IssueReason, staleAccessToken: string | undefined): Promise<Token> {
    const running = this.#inflight.get(registration.key);
    if (running !== undefined) {
      registration.stats.deduplicated++;
      return running.catch((error: unknown) => {
        throw askedBy(error, registration.id);
      });
    }
    const fetching = this.#issue(registration, reason, staleAccessToken).finally(() => {
      this.#inflight.delete(registration.key);
    });
    // Callers that stopped waiting (signal) must not turn a later failure into an unhandled rejection.
    fetching.catch(() => {});
    this.#inflight.set(registration.key, fetching);
    return fetching;
  }

  async #issue(registration: Registration, reason: IssueReason, staleAccessToken: string | undefined): Promise<Token> {
    const cooldown = this.#activeCooldown(registration.key);
    if (cooldown !== undefined) {
      registration.stats.cooledDown++;
      return this.#currentOr(registration, askedBy(cooldown.error, registration.id));
    }
    if (this.#shared !== undefined && !this.#sharedIsResting()) {
      return this.#issueAcrossFleet(this.#shared, registration, reason, staleAccessToken);
    }
    return this.#issueFromProvider(registration, reason, this.#local.ledger);
  }

  // ------------------------------------------------------------------------------------------------
  // Fleet-wide single-flight (shared store)

  /**
   * With a shared store, a lock per credential elects one fetcher in the fleet; the others wait for
   * the token it stores, and take over if it dies (the lock expires). If the store fails, this process
   * falls back to its own single-flight and memory, and says so.
   */
  async #issueAcrossFleet(
    shared: SharedTokenStore,
    registration: Registration,
    reason: IssueReason,
    staleAccessToken: string | undefined,
  ): Promise<Token> {
    const { key } = registration;
    const lockTtlMs = this.#lockTtlMs();
    // A live holder renews its lock for as long as its fetch may take; waiting longer than that means trouble.
    const giveUpAt = Date.now() + this.#longestFetchMs() + lockTtlMs;
    try {
      for (;;) {
        const stored = this.#acceptable(await shared.get(key), staleAccessToken);
        if (stored !== undefined) return this.#adopt(registration, stored);
        const owner = await shared.acquireLock(key, lockTtlMs);
        if (owner !== undefined) {
          const renewal = this.#keepLock(shared, key, owner, lockTtlMs);
          try {
            // The previous holder may have stored its token just before releasing the lock.
            const justStored = this.#acceptable(await shared.get(key), staleAccessToken);
            if (justStored !== undefined) return this.#adopt(registration, justStored);
            const token = await this.#issueFromProvider(registration, reason, shared.ledger);
            if (token.accessToken !== staleAccessToken) await this.#share(shared, key, token);
            return token;
          } finally {
            clearInterval(renewal);
            await shared.releaseLock(key, owner).catch((error: unknown) => this.#sharedFailed(error));
          }
        }
        const waited = this.#acceptable(
          await shared.waitForToken(key, lockTtlMs, this.#lifetime.signal),
          staleAccessToken,
        );
        if (waited !== undefined) return this.#adopt(registration, waited);
        if (Date.now() >= giveUpAt) {
          throw new ProviderUnavailableError('Gave up waiting for another process to fetch the token', {
            provider: registration.id,
          });
        }
      }
    } catch (error) {
      if (error instanceof TokenError || this.#lifetime.signal.aborted) throw error;
      this.#sharedFailed(error);
      return this.#issueFromProvider(registration, reason, this.#local.ledger);
    }
  }

  #acceptable(token: Token | undefined, staleAccessToken: string | undefined): Token | undefined {
    if (token === undefined || token.accessToken === staleAccessToken) return undefined;
    return Date.now() < tokenTimes(token, this.#timing).usableUntil ? token : undefined;
  }

  /** Caches a token another process fetched. */
  #adopt(registration: Registration, token: Token): Token {
    this.#remember(registration, token);
    return token;
  }

  async #share(shared: SharedTokenStore, key: string, token: Token): Promise<void> {
    const ttlMs = tokenTimes(token, this.#timing).usableUntil - Date.now();
    if (ttlMs <= 0) return;
    await shared.set(key, token, ttlMs).catch((error: unknown) => this.#sharedFailed(error));
  }

  /**
   * The lock lives for one attempt plus a margin and is renewed every third of that while its holder
   * is alive, so retries and a long `Retry-After` never outlive it, yet a holder that dies is replaced
   * within one attempt's time.
   */
  #lockTtlMs(): number {
    return this.#options.timeoutMs + 5_000;
  }

  /** Every attempt timing out, with the longest wait allowed between attempts. */
  #longestFetchMs(): number {
    const { attempts, maxDelayMs, maxRetryAfterMs } = this.#options.retry;
    return attempts * this.#options.timeoutMs + (attempts - 1) * Math.max(maxDelayMs, maxRetryAfterMs);
  }

  #keepLock(shared: SharedTokenStore, key: string, owner: string, ttlMs: number): NodeJS.Timeout {
    const renewal = setInterval(() => {
      shared.extendLock(key, owner, ttlMs).catch((error: unknown) => this.#sharedFailed(error));
    }, Math.max(100, Math.floor(ttlMs / 3)));
    renewal.unref(); // a renewal must never keep the process alive
    return renewal;
  }

  #sharedFailed(error: unknown): void {
    if (this.#sharedDownSince === undefined) {
      this.#log('warn', { error: describe(error) }, 'shared store unavailable; falling back to this process\'s cache until it answers again');
    }
    this.#sharedDownSince = Date.now();
  }

  /** After a shared-store failure, stay local for a few seconds instead of paying its timeout on every fetch. */
  #sharedIsResting(): boolean {
    if (this.#sharedDownSince === undefined) return false;
    if (Date.now() - this.#sharedDownSince < 5_000) return true;
    this.#sharedDownSince = undefined;
    this.#log('info', {}, 'trying the shared store again');
    return false;
  }

  // ------------------------------------------------------------------------------------------------
  // Issuing: guard, request with retries, validation

  async #issueFromProvider(registration: Registration, reason: IssueReason, ledger: IssuanceLedger): Promise<Token> {
    const decision = await this.#guard.reserve(ledger, registration.key, Date.now()).catch((error: unknown) => {
      if (ledger === this.#local.ledger) throw error;
      this.#sharedFailed(error);
      return this.#guard.reserve(this.#local.ledger, registration.key, Date.now());
    });
    if (!decision.allowed) {
      registration.stats.guardRefusals++;
      this.#log('warn', { provider: registration.id, retryAfterMs: decision.retryAfterMs }, 'issuance budget spent; no token request sent');
      return this.#currentOr(
        registration,
        new IssuanceLimitError(
          `Issuance budget spent for "${registration.id}": ${this.#options.guard.maxTokens} new tokens within ${Math.round(
            this.#guard.windowFor(registration.key) / 1000,
          )} s; no request was sent`,
          { provider: registration.id, retryAfterMs: decision.retryAfterMs },
        ),
      );
    }
    let received: { token: Token; quota: QuotaHint | undefined };
    try {
      // An extra request inside one attempt (oauth2's auth fallback) is counted by the guard too.
      // If the ledger cannot answer, the extra request is not sent.
      const spendExtraRequest = async () => {
        const extra = await this.#guard.reserve(ledger, registration.key, Date.now()).catch(() => undefined);
        if (extra?.allowed === true) await Promise.resolve(ledger.confirm?.(registration.key, extra.reservation, Date.now())).catch(() => {});
        return extra?.allowed === true;
      };
      received = await traceTokenFetch(this, registration.id, registration.provider.kind, reason, registration.stats, () => this.#requestWithRetries(registration, spendExtraRequest));
    } catch (error) {
      await Promise.resolve(ledger.release(registration.key, decision.reservation)).catch(() => {});
      throw this.#failed(registration, error);
    }
    const { token, quota } = received;
    // Counted from the issue, as the provider counts it, not from the reservation before the retries.
    await Promise.resolve(ledger.confirm?.(registration.key, decision.reservation, Date.now())).catch(() => {});
    this.#guard.observe(registration.key, token, quota);
    this.#remember(registration, token);
    registration.stats.tokensIssued[reason]++;
    this.#log('info', { provider: registration.id, reason, expiresAt: token.expiresAt }, 'new token issued');
    return token;
  }

  async #requestWithRetries(registration: Registration, spendExtraRequest: () => Promise<boolean>): Promise<{ token: Token; quota: QuotaHint | undefined }> {
    const { provider } = registration;
    const { timeoutMs, retry, maxLifetimeMs } = this.#options;
    return withRetries(
      async () => {
        const attempt = attemptSignal(timeoutMs, this.#lifetime.signal);
        try {
          registration.stats.requestsSent++;
          // Raced against the signal so a provider that ignores it still cannot hang the caller.
          const response = await raceAbort(provider.requestToken({ signal: attempt.signal, timeoutMs, spendExtraRequest }), attempt.signal);
          const token = parseTokenResponse(response.body, {
            now: Date.now(),
            defaultExpiresInSeconds: provider.defaultExpiresInSeconds,
            maxLifetimeSeconds: maxLifetimeMs / 1000,
          });
          return { token: Object.freeze(token), quota: response.quota };
        } catch (error) {
          throw asTokenError(error, attempt.signal);
        } finally {
          attempt.dispose();
        }
      },
      retry,
      this.#lifetime.signal,
      {
        onRetry: (error, attemptNumber, delayMs) => {
          this.#log('debug', { provider: registration.id, attempt: attemptNumber, delayMs, error: describe(error) }, 'token request failed; retrying');
        },
      },
    );
  }

  /** Records a failed fetch: the provider id on the error, the counters, and the cool-down it earns. */
  #failed(registration: Registration, error: unknown): TokenError {
    const failure = asTokenError(error, undefined);
    failure.provider ??= registration.id;
    registration.stats.failures++;
    const now = Date.now();
    const cooldownMs =
      failure instanceof InvalidCredentialsError
        ? this.#options.invalidCredentialsCooldownMs
        : failure instanceof RateLimitedError
          ? Math.max(failure.retryAfterMs ?? 0, this.#options.failureCooldownMs)
          : this.#options.failureCooldownMs;
    if (cooldownMs > 0) this.#cooldowns.set(registration.key, { until: now + cooldownMs, error: failure });
    this.#log(failure instanceof InvalidCredentialsError ? 'error' : 'warn', { provider: registration.id, error: failure.toJSON() }, 'token request failed');
    return failure;
  }

  #activeCooldown(key: string): Cooldown | undefined {
    const cooldown = this.#cooldowns.get(key);
    if (cooldown === undefined) return undefined;
    if (Date.now() < cooldown.until) return cooldown;
    this.#cooldowns.delete(key);
    return undefined;
  }

  /** The still-usable cached token, or else `error`. */
  #currentOr(registration: Registration, error: TokenError): Token {
    const entry = this.#local.peek(registration.key);
    if (entry !== undefined && Date.now() < entry.usableUntil) return entry.token;
    error.provider ??= registration.id;
    throw error;
  }

  #remember(registration: Registration, token: Token): void {
    const times = tokenTimes(token, this.#timing);
    const entry: CacheEntry = {
      token,
      promise: Promise.resolve(token),
      usableUntil: times.usableUntil,
      refreshAt: times.refreshAt,
      live: true,
      holder: registration,
    };
    this.#local.put(registration.key, entry, times.usableUntil - Date.now());
    registration.entry = entry;
    registration.hadToken = true;
    registration.nextReason = undefined;
    registration.staleAccessToken = undefined;
    if (this.#clockWatch === undefined && !this.#closed) {
      this.#clockOffset = Date.now() - performance.now();
      this.#clockWatch = setInterval(() => this.#checkClock(), CLOCK_CHECK_INTERVAL_MS);
      this.#clockWatch.unref?.();
    }
  }

  /**
   * Cached deadlines are wall-clock times, read on the hot path with one `Date.now()`. A wall clock that
   * jumps forward only makes tokens look older (a fresh one is fetched); one that steps back would make
   * them look younger than they are and keep them in service past their real expiry. So, every few
   * seconds and off the hot path, the wall clock is compared with the monotonic one; when it stepped
   * back, every cached deadline moves back by as much.
   */
  #checkClock(): void {
    const offset = Date.now() - performance.now();
    const jump = offset - this.#clockOffset;
    this.#clockOffset = offset;
    if (jump > -CLOCK_JUMP_TOLERANCE_MS) return;
    // Once per credential: several ids may share one (and so one entry).
    const keys = new Set(Array.from(this.#registrations.values(), (registration) => registration.key));
    for (const key of keys) {
      const entry = this.#local.peek(key);
      if (entry === undefined) continue;
      const moved: CacheEntry = { ...entry, usableUntil: entry.usableUntil + jump, refreshAt: entry.refreshAt + jump };
      this.#local.put(key, moved, moved.usableUntil - Date.now());
    }
    this.#log('warn', { steppedBackMs: -jump }, 'the system clock stepped back; cached token deadlines moved back with it');
  }

  /** The registration's direct reference to its entry, which the store clears when it drops the entry. */
  #hold(registration: Registration, entry: CacheEntry): void {
    registration.entry = entry;
    entry.holder = registration;
  }

  #waitFor(promise: Promise<Token>, signal: AbortSignal | undefined): Promise<Token> {
    return signal === undefined ? promise : raceAbort(promise, signal);
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
    if (this.#shared !== undefined && !this.#sharedIsResting()) {
      this.#shared.delete(registration.key, accessToken).catch((error: unknown) => this.#sharedFailed(error));
    }
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
    if (!providerShape.safeParse(provider).success) {
      issues.push({ path: `register.${String(id)}`, message: 'must be a provider made by alternativePayments(), autopay(), oauth2() or defineProvider()' });
    }
    if (issues.length > 0) throw new ConfigError(issues);
    const previous = this.#registrations.get(id);
    this.#registrations.set(id, {
      id,
      provider,
      key: provider.cacheKey,
      stats: previous?.stats ?? emptyStats(),
      entry: undefined,
      nextReason: undefined,
      staleAccessToken: undefined,
      hadToken: false,
    });
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
    addStats(this.#unregisteredStats, registration.stats);
    return true;
  }

  /** Ids of the registered providers. */
  providerIds(): string[] {
    return [...this.#registrations.keys()];
  }

  /** Counters: hits, misses, requests sent, deduplicated callers, failures, tokens issued by reason… */
  stats(): ManagerStats {
    const total = emptyStats();
    addStats(total, this.#unregisteredStats);
    const byProvider: Record<string, ProviderStats> = {};
    for (const [id, registration] of this.#registrations) {
      byProvider[id] = snapshotStats(registration.stats);
      addStats(total, registration.stats);
    }
    return { ...snapshotStats(total), byProvider };
  }

  /**
   * A `ky` instance for provider `id`'s API: `prefix` is the provider's API base URL and every request
   * carries a valid token. A 401 invalidates that token and retries once with a fresh one.
   */
  client(id: string): KyInstance {
    const registration = this.#registration(id);
    return createAuthorizedClient(this, id, registration.provider.apiBaseUrl, registration.provider);
  }

  /** A `fetch`-compatible function for provider `id`, with the same token and 401 behaviour as {@link client}. */
  fetch(id: string): typeof globalThis.fetch {
    const registration = this.#registration(id);
    return createAuthorizedFetch(this, id, registration.provider.apiBaseUrl, globalThis.fetch, registration.provider);
  }

  /** Stops background work, aborts requests under way and closes the store's own connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#lifetime.abort(new Error('token manager closed'));
    clearInterval(this.#clockWatch);
    await Promise.allSettled([...this.#inflight.values()]);
    await this.#local.close();
    await this.#shared?.close();
  }

  #registration(id: string): Registration {
    const registration = this.#registrations.get(id);
    if (registration === undefined) {
      throw new ConfigError([{ path: 'id', message: `no provider is registered as ${JSON.stringify(String(id))}` }], {
        provider: typeof id === 'string' ? id : undefined,
      });
    }
    return registration;
  }

  #assertOpen(): void {
    if (this.#closed) throw new ConfigError([{ path: 'tokens', message: 'the token manager is closed' }]);
  }

  #log(level: 'debug' | 'info' | 'warn' | 'error', object: Record<string, unknown>, message: string): void {
    const logger = this.#options.logger;
    if (logger === undefined) return;
    try {
      logger[level](object, message);
    } catch {
      // A broken logger must not break token delivery.
    }
  }

  /** Only the public shape: no tokens, no secrets. */
  [inspect.custom](): string {
    return `TokenManager ${inspect({ providers: this.providerIds(), store: this.#shared === undefined ? 'memory' : 'shared', closed: this.#closed })}`;
  }

  /** Only the public shape: no tokens, no secrets. */
  toJSON(): unknown {
    return { providers: this.providerIds(), closed: this.#closed };
  }
}

/** Any thrown value as a TokenError; foreign errors are reduced to a scrubbed cause. */
function asTokenError(error: unknown, signal: AbortSignal | undefined): TokenError {
  return error instanceof TokenError ? error : transportError(error, signal, (text) => scrub(text));
}

/** The error as the id that asked sees it: a credential shared by several ids fails under each one's own. */
function askedBy<E>(error: E, id: string): E {
  if (!(error instanceof TokenError) || error.provider === id) return error;
  const copy = Object.create(Object.getPrototypeOf(error) as object, Object.getOwnPropertyDescriptors(error)) as TokenError;
  copy.provider = id;
  return copy as E;
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}

/** How often the wall clock is compared with the monotonic clock. */
const CLOCK_CHECK_INTERVAL_MS = 5_000;
/** A step back smaller than this is drift, not a jump. */
const CLOCK_JUMP_TOLERANCE_MS = 1_000;

function describe(error: unknown): unknown {
  return error instanceof TokenError ? error.toJSON() : error instanceof Error ? { name: error.name, message: scrub(error.message) } : String(error);
}
