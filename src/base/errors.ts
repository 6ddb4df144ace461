/**
 * The error classes. Every failure tokenbroker reports is a {@link TokenError}: callers branch on the
 * class (or on `code`), never on message text.
 *
 * Errors never hold a secret: messages are built from fixed text and scrubbed provider output, and
 * `cause` is never a Request, a Response or a raw library error that could carry an `Authorization`
 * header (see `safeCause`).
 */

/** Machine-readable error codes, one per error class. */
export type TokenErrorCode =
  | 'invalid_credentials'
  | 'rate_limited'
  | 'provider_unavailable'
  | 'invalid_token_response'
  | 'issuance_limit'
  | 'closed'
  | 'unknown_provider'
  | 'foreign_origin'
  | 'dpop_required'
  | 'config';

/** Options common to every {@link TokenError}. */
export interface TokenErrorOptions {
  /** The id the provider is registered under (e.g. `'ap'`). Filled in by the manager when missing. */
  provider?: string | undefined;
  /** The HTTP status the provider answered with, when there was one. */
  status?: number | undefined;
  /** The provider's own error code (e.g. `access_denied`, `invalid_client`), when it gave one. */
  providerCode?: string | undefined;
  /** What caused this error; already scrubbed of secrets (see `safeCause`). */
  cause?: unknown;
}

/**
 * Base class of every error tokenbroker throws.
 *
 * @example
 * ```ts
 * try { await tokens.getToken('ap'); }
 * catch (error) { if (error instanceof TokenError) console.log(error.code, error.provider, error.status); }
 * ```
 */
export class TokenError extends Error {
  /** What went wrong, as a stable machine-readable code. */
  readonly code: TokenErrorCode;
  /** The id the provider is registered under, when the error concerns one. Fixed once made (see {@link forProvider}). */
  declare readonly provider: string | undefined;
  /** The HTTP status the provider answered with, when there was one. */
  readonly status: number | undefined;
  /** The provider's own error code, when it gave one (e.g. `access_denied`). */
  readonly providerCode: string | undefined;

  /** For subclasses; use one of them. */
  constructor(code: TokenErrorCode, message: string, options: TokenErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    Object.defineProperty(this, 'provider', { value: options.provider, enumerable: true, writable: false, configurable: true });
    this.status = options.status;
    this.providerCode = options.providerCode;
  }

  /**
   * A copy of this error reported under provider id `provider`. The manager hands every caller its own
   * copy, so no caller sees an error object another caller holds, and each sees the id it asked for.
   */
  forProvider(provider: string): this {
    const copy = Object.create(Object.getPrototypeOf(this) as object) as this;
    Object.defineProperties(copy, Object.getOwnPropertyDescriptors(this));
    // V8's `stack` is an accessor bound to the original object: copy its value instead.
    Object.defineProperty(copy, 'stack', { value: this.stack, writable: true, configurable: true });
    Object.defineProperty(copy, 'provider', { value: provider, enumerable: true, writable: false, configurable: true });
    return copy;
  }

  /** A JSON form with the fields a log line needs; never a secret. */
  toJSON(): Record<string, unknown> {
    const json: Record<string, unknown> = { name: this.name, code: this.code, message: this.message };
    if (this.provider !== undefined) json.provider = this.provider;
    if (this.status !== undefined) json.status = this.status;
    if (this.providerCode !== undefined) json.providerCode = this.providerCode;
    if ('retryAfterMs' in this && this.retryAfterMs !== undefined) json.retryAfterMs = this.retryAfterMs;
    return json;
  }
}

/**
 * The provider refused the client id or secret (Alternative Payments 403, Autopay 401 `access_denied`,
 * RFC 6749 `invalid_client`). Never retried; remembered for a cool-down during which callers get this
 * error again without a request. What to do: fix or rotate the credentials.
 */
export class InvalidCredentialsError extends TokenError {
  /** Providers (and custom providers) throw it with a message and the HTTP details. */
  constructor(message: string, options: TokenErrorOptions = {}) {
    super('invalid_credentials', message, options);
  }
}

/**
 * The provider answered 429 on every attempt. `retryAfterMs` says when it may be asked again (from
 * `Retry-After` or `x-ratelimit-reset` when given). What to do: back off; tokenbroker already did.
 */
export class RateLimitedError extends TokenError {
  /** How long to wait before asking again, in milliseconds, when known. */
  readonly retryAfterMs: number | undefined;
  /** Providers (and custom providers) throw it with a message, the HTTP details and the wait, if known. */
  constructor(message: string, options: TokenErrorOptions & { retryAfterMs?: number | undefined } = {}) {
    super('rate_limited', message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * The provider could not be reached or failed (network error, timeout, 5xx) on every attempt.
 * What to do: retry later; a still-valid token, if any, keeps being served meanwhile.
 */
export class ProviderUnavailableError extends TokenError {
  /** The provider's `Retry-After`, in milliseconds, when it gave one. */
  readonly retryAfterMs: number | undefined;
  /** Providers (and custom providers) throw it with a message, the HTTP details and `Retry-After`, if given. */
  constructor(message: string, options: TokenErrorOptions & { retryAfterMs?: number | undefined } = {}) {
    super('provider_unavailable', message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * The provider answered, but not with a usable token: not JSON, no `access_token`, a `token_type`
 * other than Bearer, an `expires_in` that is not a positive number, an unexpected status or a
 * redirect. Nothing is cached. What to do: check the token URL; report it to the provider.
 */
export class InvalidTokenResponseError extends TokenError {
  /** Providers (and custom providers) throw it with a message and the HTTP details. */
  constructor(message: string, options: TokenErrorOptions = {}) {
    super('invalid_token_response', message, options);
  }
}

/**
 * The issuance guard refused to ask for another token: this credential has used its budget of new
 * tokens for the current window and no valid token is left to serve. No request was sent.
 * What to do: look for the loop that keeps asking; wait `retryAfterMs`.
 */
export class IssuanceLimitError extends TokenError {
  /** When the budget has room again, in milliseconds from now. */
  readonly retryAfterMs: number;
  /** Thrown by the manager's guard. */
  constructor(message: string, options: TokenErrorOptions & { retryAfterMs: number }) {
    super('issuance_limit', message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * The token manager was used after `close()`: a bug in the calling code's shutdown order, not a
 * configuration problem. What to do: stop asking for tokens before closing the manager.
 */
export class ManagerClosedError extends TokenError {
  /** Thrown by a closed manager. */
  constructor(options: TokenErrorOptions = {}) {
    super('closed', 'The token manager is closed', options);
  }
}

/**
 * No provider is registered under the id asked for: a typo, or a call before `register`. Not a
 * configuration problem of the options (those are {@link ConfigError}). What to do: check the id
 * against `tokens.providerIds()`.
 */
export class UnknownProviderError extends TokenError {
  /** Thrown by the manager for an id it does not know; `provider` is that id. */
  constructor(provider: string, options: Omit<TokenErrorOptions, 'provider'> = {}) {
    super('unknown_provider', `No provider is registered as ${JSON.stringify(provider)}`, { ...options, provider });
  }
}

/**
 * A request through `tokens.client(id)`/`tokens.fetch(id)` named an origin other than the provider's
 * `apiBaseUrl`: the token is not sent, so a mistaken absolute URL cannot leak it. What to do: use a
 * path relative to the provider's API, or a client of its own for the other origin.
 */
export class ForeignOriginError extends TokenError {
  /** The origin the provider's tokens may go to. */
  readonly allowedOrigin: string;
  /** The origin the request named. */
  readonly requestedOrigin: string;
  /** Thrown by the authorised client before anything is sent. */
  constructor(allowedOrigin: string, requestedOrigin: string, options: TokenErrorOptions = {}) {
    const who = options.provider === undefined ? 'this provider' : JSON.stringify(options.provider);
    super('foreign_origin', `Tokens of ${who} are sent only to ${allowedOrigin}, not ${requestedOrigin}`, options);
    this.allowedOrigin = allowedOrigin;
    this.requestedOrigin = requestedOrigin;
  }
}

/**
 * The provider's tokens are DPoP-bound (RFC 9449): presented alone, as a header, a bound token is
 * refused by a strict resource server and accepted unbound by a lax one. Each request needs its own
 * proof (method, URL, token hash). What to do: send the request through `tokens.fetch(id)` or
 * `tokens.client(id)`, which add the proof.
 */
export class DPoPRequiredError extends TokenError {
  /** Thrown by `getAuthorizationHeader` for a provider whose tokens are DPoP-bound. */
  constructor(options: TokenErrorOptions = {}) {
    const who = options.provider === undefined ? 'this provider' : JSON.stringify(options.provider);
    super(
      'dpop_required',
      `Tokens of ${who} are DPoP-bound: every request needs its own proof, so there is no header to hand out; send it through tokens.fetch(id) or tokens.client(id)`,
      options,
    );
  }
}

/** One problem found in the options. */
export interface ConfigIssue {
  /** Path of the option, dotted with array indexes in brackets, e.g. `providers.ap.clientSecret`, `encryptionKeys[0]`. */
  readonly path: string;
  /** What is wrong with it (never its value when it is a secret). */
  readonly message: string;
}

/**
 * The configuration is wrong, and only the configuration: an option, a provider's settings, a config
 * file or environment variable (a missing secret, an `http://` URL to a non-loopback host, a negative
 * duration…). `issues` lists every problem found, each naming its field. Misuse at run time has its
 * own classes ({@link UnknownProviderError}, {@link ManagerClosedError}, {@link ForeignOriginError},
 * {@link DPoPRequiredError}).
 */
export class ConfigError extends TokenError {
  /** Every problem found, each with the path of its field. */
  readonly issues: readonly ConfigIssue[];
  /** Builds the message from the issues, one line each. */
  constructor(issues: readonly ConfigIssue[], options: TokenErrorOptions = {}) {
    super('config', ConfigError.describe(issues), options);
    this.issues = issues;
  }

  private static describe(issues: readonly ConfigIssue[]): string {
    if (issues.length === 1) return `Invalid configuration: ${issues[0]!.path}: ${issues[0]!.message}`;
    return `Invalid configuration (${issues.length} problems):\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')}`;
  }
}

/** True for the errors worth another attempt: the provider may answer differently next time. */
export function isRetryable(error: unknown): error is ProviderUnavailableError | RateLimitedError {
  return error instanceof ProviderUnavailableError || error instanceof RateLimitedError;
}

/**
 * Reduces an arbitrary thrown value to a cause that is safe to keep: its name, message (scrubbed by the
 * caller's `scrub`) and system `code`. Library errors can hold the Request with its Authorization
 * header, so they are never kept whole.
 */
export function safeCause(error: unknown, scrub: (text: string) => string): Error | undefined {
  if (error === undefined || error === null) return undefined;
  const source = error instanceof Error ? error : new Error(String(error));
  const cause = new Error(scrub(source.message));
  cause.name = source.name;
  const code = (source as { code?: unknown }).code ?? (source.cause as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') (cause as Error & { code?: string }).code = code;
  // The stack of a library error names only library frames and our message; rebuild it from the scrubbed message.
  cause.stack = `${cause.name}: ${cause.message}`;
  return cause;
}
