/**
 * Issuing one token from a provider: the issuance guard's reservation, the request with retries and a
 * per-attempt timeout, validation before anything is cached, and the cool-down a failure earns. The
 * manager decides when to issue; this module knows how.
 */
import { InvalidCredentialsError, IssuanceLimitError, TokenError } from '../base/errors.js';
import { IssuanceGuard } from './guard.js';
import { transportError } from '../base/http.js';
import type { LogFn } from '../base/logger.js';
import type { ResolvedManagerOptions } from './options.js';
import { cooldownMs, guardWindowMs } from './timing.js';
import type { Provider, QuotaHint } from '../providers/provider.js';
import { scrub } from '../base/redact.js';
import { withRetries } from '../base/retry.js';
import type { Counters, IssueReason } from '../base/stats.js';
import type { IssuanceLedger } from '../stores/types.js';
import { traceTokenFetch } from './telemetry.js';
import { attemptSignal, raceAbort } from '../base/timers.js';
import { parseTokenResponse, type Token } from '../base/token.js';

/** The credential being issued for, as the issuer sees it: its id, provider, key and its counters. */
export interface Credential extends Counters {
  /** The id that asked. */
  readonly id: string;
  readonly provider: Provider;
  /** The cache, lock and ledger key. */
  readonly key: string;
  /** The lifetime of the credential's latest token, ms (0: none seen yet): it sets the guard's window. */
  readonly lifetimeMs: number;
  /** The token being replaced because it was rejected, if so: passed on to the provider. */
  readonly staleAccessToken?: string | undefined;
}

interface Cooldown {
  readonly until: number;
  readonly error: TokenError;
}

/** Issues tokens for a manager; one per manager. */
export class Issuer {
  readonly guard: IssuanceGuard;
  readonly #options: ResolvedManagerOptions;
  readonly #signal: AbortSignal;
  readonly #log: LogFn;
  readonly #owner: object;
  readonly #cooldowns = new Map<string, Cooldown>();

  /** `owner` is the manager, for telemetry listeners; `signal` aborts every request when it closes. */
  constructor(options: ResolvedManagerOptions, signal: AbortSignal, log: LogFn, owner: object) {
    this.#options = options;
    this.#signal = signal;
    this.#log = log;
    this.#owner = owner;
    this.guard = new IssuanceGuard(options.guard);
  }

  /**
   * The error of a recent failure of `key` while its cool-down lasts (a copy for `id`), else undefined.
   * During a cool-down no request is sent.
   */
  cooldownError(key: string, id: string): TokenError | undefined {
    const cooldown = this.#cooldowns.get(key);
    if (cooldown === undefined) return undefined;
    if (Date.now() < cooldown.until) return cooldown.error.forProvider(id);
    this.#cooldowns.delete(key);
    return undefined;
  }

  /** Ends `key`'s cool-down: its secret changed, so the refusal it remembers no longer holds. */
  endCooldown(key: string): void {
    this.#cooldowns.delete(key);
  }

  /**
   * Reserves room in `ledger` (or, if that ledger fails, in `fallbackLedger` after `onLedgerFailure`),
   * then asks the provider. Throws {@link IssuanceLimitError} when the budget is spent (no request sent),
   * or the provider's error after retries.
   */
  async issue(
    credential: Credential,
    reason: IssueReason,
    ledger: IssuanceLedger,
    fallbackLedger: IssuanceLedger,
    onLedgerFailure: (error: unknown) => void,
  ): Promise<{ token: Token; quota: QuotaHint | undefined }> {
    const { key, id } = credential;
    let used = ledger;
    const decision = await this.guard.reserve(ledger, key, Date.now(), credential.lifetimeMs).catch((error: unknown) => {
      if (ledger === fallbackLedger) throw error;
      onLedgerFailure(error);
      used = fallbackLedger;
      return this.guard.reserve(fallbackLedger, key, Date.now(), credential.lifetimeMs);
    });
    if (!decision.allowed) {
      credential.guardRefusals++;
      this.#log('warn', { provider: id, retryAfterMs: decision.retryAfterMs }, 'issuance budget spent; no token request sent');
      const windowSeconds = Math.round(guardWindowMs(this.#options.guard.windowMs, credential.lifetimeMs) / 1000);
      throw new IssuanceLimitError(
        `Issuance budget spent for "${id}": ${this.#options.guard.maxTokens} new tokens within ${windowSeconds} s; no request was sent`,
        { provider: id, retryAfterMs: decision.retryAfterMs },
      );
    }
    // An extra request inside one attempt (oauth2's auth-method fallback) is counted by the guard too.
    // If the ledger cannot answer, the extra request is not sent.
    const spendExtraRequest = async (): Promise<boolean> => {
      const extra = await this.guard.reserve(used, key, Date.now(), credential.lifetimeMs).catch(() => undefined);
      if (extra?.allowed === true) await Promise.resolve(used.confirm?.(key, extra.reservation, Date.now())).catch(() => {});
      return extra?.allowed === true;
    };
    let received: { token: Token; quota: QuotaHint | undefined };
    try {
      received = await traceTokenFetch(this.#owner, id, credential.provider.kind, reason, credential, () =>
        this.#requestWithRetries(credential, spendExtraRequest),
      );
    } catch (error) {
      await Promise.resolve(used.release(key, decision.reservation)).catch(() => {});
      throw this.#failed(credential, error);
    }
    // Counted from the issue, as the provider counts it, not from the reservation before the retries.
    await Promise.resolve(used.confirm?.(key, decision.reservation, Date.now())).catch(() => {});
    this.guard.observeQuota(key, received.quota);
    credential[reason]++;
    this.#log('info', { provider: id, reason, expiresAt: received.token.expiresAt }, 'new token issued');
    return received;
  }

  async #requestWithRetries(credential: Credential, spendExtraRequest: () => Promise<boolean>): Promise<{ token: Token; quota: QuotaHint | undefined }> {
    const { provider, id, staleAccessToken } = credential;
    const { timeoutMs, retry, maxLifetimeMs } = this.#options;
    return withRetries(
      async () => {
        const attempt = attemptSignal(timeoutMs, this.#signal);
        try {
          credential.requestsSent++;
          // Raced against the signal so a provider that ignores it still cannot hang the caller.
          const context = { signal: attempt.signal, timeoutMs, spendExtraRequest, rejectedAccessToken: staleAccessToken };
          const response = await raceAbort(provider.requestToken(context), attempt.signal);
          const token = parseTokenResponse(response.body, {
            now: Date.now(),
            defaultExpiresInSeconds: provider.defaultExpiresInSeconds,
            maxLifetimeSeconds: maxLifetimeMs / 1000,
            tokenType: provider.tokenType,
          });
          return { token: Object.freeze(token), quota: response.quota };
        } catch (error) {
          throw asTokenError(error, attempt.signal);
        } finally {
          attempt.dispose();
        }
      },
      retry,
      this.#signal,
      {
        onRetry: (error, attemptNumber, delayMs) => {
          this.#log('debug', { provider: id, attempt: attemptNumber, delayMs, error: errorForLog(error) }, 'token request failed; retrying');
        },
      },
    );
  }

  /** Records a failed fetch: the counters, the cool-down it earns, and the error under the id that asked. */
  #failed(credential: Credential, error: unknown): TokenError {
    const { id, key } = credential;
    const failure = asTokenError(error, undefined).forProvider(id);
    credential.failures++;
    const coolFor = cooldownMs(failure, this.#options);
    if (coolFor > 0) this.#cooldowns.set(key, { until: Date.now() + coolFor, error: failure });
    this.#log(failure instanceof InvalidCredentialsError ? 'error' : 'warn', { provider: id, error: failure.toJSON() }, 'token request failed');
    return failure;
  }
}

/** Any thrown value as a TokenError; foreign errors are reduced to a scrubbed cause. */
export function asTokenError(error: unknown, signal: AbortSignal | undefined): TokenError {
  return error instanceof TokenError ? error : transportError(error, signal, (text) => scrub(text));
}

/** An error for a log line: a TokenError's JSON, a foreign error's name and scrubbed message. */
export function errorForLog(error: unknown): unknown {
  return error instanceof TokenError ? error.toJSON() : error instanceof Error ? { name: error.name, message: scrub(error.message) } : String(error);
}
