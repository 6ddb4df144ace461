import { BanList } from './ban-list.js';
import { ClientRegistry, SAMPLE_CLIENTS } from './clients.js';
import { applyKnobsPatch, parseKnobsPatch, type Knobs, type ResolvedEmulatorOptions } from './options.js';
import { PerSecondRateLimiter } from './rate-limiter.js';
import { Counters, type EmulatorStats } from './stats.js';
import { TokenStore } from './tokens.js';

/**
 * Everything one running emulator knows, shared by the provider handlers and the control routes.
 * The handlers hold the wire formats; this holds the state they act on.
 */
export class EmulatorState {
  readonly clients: ClientRegistry;
  readonly tokens: TokenStore;
  readonly counters = new Counters();
  readonly bans = new BanList();
  readonly rateLimiter = new PerSecondRateLimiter();
  /** The APIs' own limit, per provider and client id (the token endpoint's is `rateLimiter`). */
  readonly apiRateLimiter = new PerSecondRateLimiter();
  readonly now: () => number;
  /** Decides which requests `errorRate` hits; replaceable so a test can make a fractional rate deterministic. */
  random: () => number = Math.random;
  /** Aborted on close, so requests sleeping through `latencyMs` stop waiting. */
  readonly closing = new AbortController();
  /** Base URL once the server listens; the Autopay `iss` claim is built from it. */
  url = '';
  #knobs: Knobs;

  constructor(options: ResolvedEmulatorOptions) {
    this.now = options.now;
    this.#knobs = options.knobs;
    this.clients = new ClientRegistry(options.clients ?? SAMPLE_CLIENTS, options.now);
    this.tokens = new TokenStore(options.now);
  }

  get knobs(): Readonly<Knobs> {
    return this.#knobs;
  }

  /** Validates and applies a patch; a bad patch changes nothing. */
  configure(patch: unknown): void {
    this.#knobs = applyKnobsPatch(this.#knobs, parseKnobsPatch(patch));
  }

  /** Uses up one pending forced 429, if any; returns its `Retry-After` or `null` when none was pending. */
  takeForced429(): { retryAfterSeconds: number | undefined } | null {
    const forced = this.#knobs.force429;
    if (forced.count <= 0) return null;
    this.#knobs = { ...this.#knobs, force429: { ...forced, count: forced.count - 1 } };
    return { retryAfterSeconds: forced.retryAfterSeconds };
  }

  /** Revokes issued tokens, all or one client id's, so they get 401 on the APIs. */
  revokeTokens(clientId?: string): void {
    this.tokens.revoke(clientId);
  }

  /**
   * Clears bans, counters, rate-limit windows, pending forced 429s and revoked tokens (which stay
   * refused). Other knobs and unrevoked tokens are kept: a reset between test cases should not
   * pull a valid token out from under a client that cached it.
   */
  reset(): void {
    this.bans.reset();
    this.counters.reset();
    this.rateLimiter.reset();
    this.apiRateLimiter.reset();
    this.tokens.forgetRevoked();
    this.#knobs = { ...this.#knobs, force429: { count: 0 } };
  }

  stats(): EmulatorStats {
    return this.counters.snapshot(this.bans.bannedClients());
  }
}
