/**
 * The Token type, the validation of a provider's token response, and the `Authorization` value. The
 * timing policy (when a token is served and refreshed) is core/timing.ts's.
 *
 * Validation is strict in the spirit of oauth4webapi: a response that is not exactly usable is an
 * {@link InvalidTokenResponseError} and is never cached.
 */
import { z } from 'zod';
import { InvalidTokenResponseError } from './errors.js';
import { lazySchema } from './validate.js';

/** What the provider told us about its own issuance quota, from response headers. */
export interface QuotaHint {
  /** Tokens (or requests) the provider will still grant in the current window. */
  readonly remaining: number;
  /** When the window resets, epoch ms. */
  readonly resetAt: number;
}

/** The raw outcome of one successful token request, before validation. */
export interface TokenResponse {
  /** The parsed JSON body of the 2xx answer; validated (`parseTokenResponse`, called by core/issuer.ts) before anything is cached. */
  readonly body: unknown;
  /** The provider's own quota, when its headers reported one (Auth0 `Auth0-Client-Quota-Limit`, `x-ratelimit-*`). */
  readonly quota?: QuotaHint | undefined;
}

/** How a token is presented: `Bearer` (RFC 6750) or `DPoP` (RFC 9449, bound to a key; each request carries a proof). */
export type TokenType = 'Bearer' | 'DPoP';

/** An access token as tokenbroker hands it out. */
export interface Token {
  /** The access token itself, to send as `Authorization: <tokenType> <accessToken>`. */
  readonly accessToken: string;
  /**
   * `'Bearer'`, whatever case the provider used; `'DPoP'` for a DPoP-bound token (RFC 9449), which is
   * sent only with a proof per request (`tokens.fetch(id)`, `tokens.client(id)`).
   */
  readonly tokenType: TokenType;
  /** When the provider says the token stops working, in epoch milliseconds. */
  readonly expiresAt: number;
  /** When tokenbroker received it, in epoch milliseconds. */
  readonly issuedAt: number;
  /** The scope the provider granted, when it said. */
  readonly scope?: string;
}

/** Limits applied while turning a response into a {@link Token}. */
export interface TokenParseOptions {
  /** The receipt time, epoch ms. */
  readonly now: number;
  /** Lifetime to assume when the response has no `expires_in` (seconds). Without it, a missing `expires_in` is an error. */
  readonly defaultExpiresInSeconds?: number | undefined;
  /** Longest lifetime believed, in seconds; a longer `expires_in` is clamped to it. */
  readonly maxLifetimeSeconds: number;
  /** The `token_type` the provider must answer (any case; default `'Bearer'`). */
  readonly tokenType?: TokenType | undefined;
}

// RFC 6750 §2.1 b64token is the strict form; any visible ASCII is accepted because real providers vary,
// but nothing that could break out of an HTTP header.
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

const expiresInSchema = lazySchema(() =>
  z.union([
    z.number().finite(),
    z
      .string()
      .regex(/^\s*\d+(\.\d+)?\s*$/, 'not a number')
      .transform(Number),
  ]),
);

const tokenResponseSchema = lazySchema(() =>
  z.looseObject({
    access_token: z
      .string({ error: 'access_token is missing or not a string' })
      .min(1, 'access_token is empty')
      .max(16_384, 'access_token is longer than 16 KiB')
      .regex(VISIBLE_ASCII, 'access_token holds characters that cannot go in an HTTP header'),
    token_type: z.string({ error: 'token_type is missing or not a string' }),
    expires_in: z.unknown().optional(),
    scope: z.string({ error: 'scope is not a string' }).optional(),
  }),
);

/**
 * Validates a token endpoint's parsed JSON body and turns it into a {@link Token}.
 *
 * `expires_in`: a number or numeric string (some servers send strings) of seconds, floored; missing →
 * `defaultExpiresInSeconds` or an error; 0, negative or not a number → error; above
 * `maxLifetimeSeconds` → clamped (a token refreshed early costs one request; one trusted too long
 * fails every API call).
 *
 * @throws {@link InvalidTokenResponseError} naming what is wrong; the message never quotes the token.
 */
export function parseTokenResponse(body: unknown, options: TokenParseOptions): Token {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidTokenResponseError('Token response is not a JSON object');
  }
  const parsed = tokenResponseSchema().safeParse(body);
  if (!parsed.success) {
    const reasons = parsed.error.issues.map((issue) => issue.message).join('; ');
    throw new InvalidTokenResponseError(`Token response is invalid: ${reasons}`);
  }
  const { access_token: accessToken, token_type: answeredType, expires_in: rawExpiresIn, scope } = parsed.data;
  const tokenType = options.tokenType ?? 'Bearer';
  if (answeredType.toLowerCase() !== tokenType.toLowerCase()) {
    throw new InvalidTokenResponseError(`Token response is invalid: token_type is not ${tokenType}`);
  }
  const expiresInSeconds = resolveExpiresIn(rawExpiresIn, options);
  const token: Token = {
    accessToken,
    tokenType,
    issuedAt: options.now,
    expiresAt: options.now + expiresInSeconds * 1000,
    ...(scope === undefined ? {} : { scope }),
  };
  return token;
}

function resolveExpiresIn(raw: unknown, options: TokenParseOptions): number {
  if (raw === undefined || raw === null) {
    const fallback = options.defaultExpiresInSeconds;
    // The default is configuration, not a promise from the provider: the same floor and cap apply.
    if (fallback !== undefined && Number.isFinite(fallback) && fallback >= 1) {
      return Math.min(Math.floor(fallback), options.maxLifetimeSeconds);
    }
    throw new InvalidTokenResponseError('Token response has no expires_in and the provider documents no default');
  }
  const parsed = expiresInSchema().safeParse(raw);
  if (!parsed.success || !Number.isFinite(parsed.data)) {
    throw new InvalidTokenResponseError('Token response expires_in is not a number');
  }
  const seconds = Math.floor(parsed.data);
  if (seconds <= 0) throw new InvalidTokenResponseError(`Token response expires_in is ${seconds}; it must be positive`);
  return Math.min(seconds, options.maxLifetimeSeconds);
}

/**
 * The one `Authorization` header value builder: `<scheme> <credential>`. Bearer for tokens and API
 * keys (RFC 6750); `DPoP` for a bound token, which goes out only beside its proof (RFC 9449).
 */
export function authorizationValue(credential: string, scheme: TokenType = 'Bearer'): string {
  return `${scheme} ${credential}`;
}

/**
 * A span of milliseconds as a field should hold it: an integer in int32 range made a V8 small integer
 * (`| 0` does that), which costs nothing beyond its field. The difference of two epoch-ms numbers, as
 * optimised code computes it, is a float even when it is whole, and a field holds a float as a 16-byte
 * heap number: per credential, for the fields kept per credential. Anything else is returned as it is.
 */
export function compactMs(ms: number): number {
  return (ms | 0) === ms ? ms | 0 : ms;
}

/** The token's lifetime, ms, as {@link compactMs} keeps it. */
export function lifetimeMs(token: Token): number {
  return compactMs(token.expiresAt - token.issuedAt);
}
