/**
 * A provider whose tokens come from a tokenbroker broker (`tokenbroker serve`) instead of the token
 * endpoint itself: the app holds a consumer API key, the broker holds the client secret. With it,
 * `getToken`, `client()` and `fetch()` work against a broker exactly as against a provider; when the
 * manager replaces a token because it was rejected (a 401 through `client()`/`fetch()`, or
 * `invalidate(id, token)`), the rejected token is reported to the broker
 * (`POST /v1/tokens/:provider/invalidate`), which drops it — once, for every consumer — and answers
 * with a fresh one.
 */
import ky from 'ky';
import { z } from 'zod';
import { InvalidCredentialsError, InvalidTokenResponseError, RateLimitedError, type TokenError } from '../base/errors.js';
import { parseRetryAfter } from '../base/headers.js';
import { commonFailure, postTokenRequest, readTokenAnswer, successResponse, transportError, type TokenHttpResponse } from '../base/http.js';
import { authorizationValue } from '../base/token.js';
import { defineProvider, type Provider } from './provider.js';
import { lazySchema, nonEmptyString, parseOptions, secureUrl } from '../base/validate.js';
import { credentialScrubber, withoutTrailingSlash } from './shared.js';

/**
 * Options of {@link fromBroker}.
 *
 * @example
 * ```ts
 * const options: FromBrokerOptions = {
 *   url: 'https://tokenbroker.internal:8443',
 *   apiKey: process.env.TOKENBROKER_API_KEY!,
 *   provider: 'ap',
 *   apiBaseUrl: 'https://public-api.alternativepayments.io',
 * };
 * ```
 */
export interface FromBrokerOptions {
  /** The broker's base URL. `https://`, or `http://` on a loopback host. */
  readonly url: string;
  /** This consumer's API key. Kept only in a closure; never shown (its hash is part of the cache key). */
  readonly apiKey: string;
  /** The provider id configured in the broker (`/v1/tokens/<provider>`). */
  readonly provider: string;
  /** Prefix for `tokens.client(id)`: the API the tokens are for (the broker does not know it). */
  readonly apiBaseUrl?: string | undefined;
}

const optionsSchema = lazySchema(() =>
  z.strictObject({
    url: secureUrl(),
    apiKey: nonEmptyString(),
    provider: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be a provider id of the broker: 1–64 letters, digits or . _ -'),
    apiBaseUrl: secureUrl().optional(),
  }),
);

/**
 * A provider for tokens handed out by a tokenbroker broker.
 *
 * Wire request: `GET {url}/v1/tokens/{provider}` with `Authorization: Bearer <apiKey>`; after a
 * rejection, `POST {url}/v1/tokens/{provider}/invalidate` with `{ "accessToken": "<rejected>" }`.
 * 401/403/404 and the broker's own refused credentials → `InvalidCredentialsError`; 429 and the
 * broker's rate limit or spent budget → `RateLimitedError` with its `Retry-After`; other 5xx →
 * `ProviderUnavailableError`.
 *
 * @throws {@link ConfigError} naming every bad option (`fromBroker.url`, …); never quoting the key.
 *
 * @example
 * ```ts
 * import { createTokenManager, fromBroker } from 'tokenbroker';
 *
 * const tokens = createTokenManager({
 *   providers: { ap: fromBroker({ url: 'http://127.0.0.1:8080', apiKey: process.env.TOKENBROKER_API_KEY!, provider: 'ap' }) },
 * });
 * const token = await tokens.getToken('ap');
 * ```
 */
export function fromBroker(options: FromBrokerOptions): Provider {
  const o = parseOptions(optionsSchema(), options, 'fromBroker');
  const tokenUrl = `${withoutTrailingSlash(o.url)}/v1/tokens/${o.provider}`;
  const invalidateUrl = `${tokenUrl}/invalidate`;
  const scrub = credentialScrubber(o.apiKey);
  const authorization = authorizationValue(o.apiKey);
  return defineProvider({
    kind: 'broker',
    tokenUrl,
    clientId: o.provider,
    clientSecret: o.apiKey,
    apiBaseUrl: o.apiBaseUrl,
    async requestToken({ signal, rejectedAccessToken }) {
      let response: TokenHttpResponse;
      if (rejectedAccessToken === undefined) {
        let raw: Response;
        try {
          raw = await ky.get(tokenUrl, { headers: { authorization }, signal, redirect: 'manual', retry: 0, timeout: false, throwHttpErrors: false });
        } catch (error) {
          throw transportError(error, signal, scrub, tokenUrl);
        }
        response = await readTokenAnswer(raw, signal, scrub);
      } else {
        response = await postTokenRequest({
          url: invalidateUrl,
          headers: { authorization, 'content-type': 'application/json' },
          body: JSON.stringify({ accessToken: rejectedAccessToken }),
          signal,
          // The rejected token is dead, but is still a token: never quoted.
          scrub: (text) => scrub(text).replaceAll(rejectedAccessToken, '[token]'),
        });
      }
      const now = Date.now();
      if (response.status === 200) return successResponse(response, now);
      throw brokerFailure(response, o.provider, scrub, now);
    },
  });
}

/** The broker's error answers, by its stable codes (its messages are fixed text, never a secret). */
function brokerFailure(response: TokenHttpResponse, provider: string, scrub: (text: string) => string, now: number): TokenError {
  const code = (response.json as { error?: { code?: unknown } } | undefined)?.error?.code;
  const brokerCode = typeof code === 'string' && /^[a-z_]{1,64}$/.test(code) ? code : undefined;
  const what = `The broker answered HTTP ${response.status}${brokerCode === undefined ? '' : ` ${brokerCode}`} for "${provider}"`;
  const { status } = response;
  if (status === 401 || status === 403 || status === 404 || brokerCode === 'upstream_invalid_credentials') {
    return new InvalidCredentialsError(what, { status, providerCode: brokerCode });
  }
  if (brokerCode === 'upstream_invalid_response') return new InvalidTokenResponseError(what, { status, providerCode: brokerCode });
  if (status === 429 || brokerCode === 'upstream_rate_limited' || brokerCode === 'issuance_limit') {
    return new RateLimitedError(what, { status, providerCode: brokerCode, retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), now) });
  }
  return commonFailure(response, scrub, now);
}
