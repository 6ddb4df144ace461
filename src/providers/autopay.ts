/**
 * Autopay: an Auth0-style token endpoint that takes the credentials in a JSON body with an `audience`.
 */
import { z } from 'zod';
import { commonFailure, oauthErrorCode, postTokenRequest, successResponse } from '../base/http.js';
import type { Provider, TokenRequestContext } from './provider.js';
import type { TokenResponse } from '../base/token.js';
import { lazySchema, nonEmptyString, parseOptions, secureUrl } from '../base/validate.js';
import { rateLimitSchema, resolvedRateLimit, type RateLimit } from '../base/rate-limit.js';
import { secretOf, secretSourceSchema, type SecretSource } from './secret-source.js';
import { credentialScrubber, credentialsRefused, EndpointCredential, Interned, withoutTrailingSlash, type Endpoint } from './shared.js';

const KIND = 'autopay';

/** Autopay's documented endpoints and audience. */
const AUTOPAY_DEFAULTS = {
  tokenUrl: 'https://api-auth.autopay.io/oauth/token',
  audience: 'https://api.autopay.io',
  apiBaseUrl: 'https://api.autopay.io',
} as const;

/**
 * Lifetime to assume if a response ever lacks `expires_in`. Autopay documents tokens as lasting
 * "usually 10-24 hours" (86400 s in its example); the lower bound is the safe guess, since trusting a
 * token too long fails API calls while refreshing early only costs one request.
 */
const DOCUMENTED_MINIMUM_LIFETIME_SECONDS = 36_000;

/**
 * 403 answers that mean "this client may not have this token": Auth0's `unauthorized_client` (the grant
 * is not allowed) and `access_denied` (the client is not authorised for the audience). Retrying cannot help.
 */
const REFUSED_CLIENT_CODES = new Set(['access_denied', 'unauthorized_client']);

/**
 * Options of {@link autopay}.
 *
 * @example
 * ```ts
 * const options: AutopayOptions = {
 *   clientId: process.env.AUTOPAY_CLIENT_ID!,
 *   clientSecret: process.env.AUTOPAY_CLIENT_SECRET!,
 * };
 * const provider = autopay(options);
 * ```
 */
export interface AutopayOptions {
  /** The client id from your Autopay representative. */
  readonly clientId: string;
  /**
   * The client secret: the value, a function that returns it (called before each token request), or
   * `secretFile(path)` (read again before each token request; see docs/secrets.md). Kept only in a
   * private field; never shown.
   */
  readonly clientSecret: SecretSource;
  /** The `audience` sent with the request; default `https://api.autopay.io` (the only one documented). */
  readonly audience?: string | undefined;
  /** The token endpoint; default `https://api-auth.autopay.io/oauth/token`. `https://` or loopback `http://`. */
  readonly tokenUrl?: string | undefined;
  /** Prefix for `tokens.client(id)`; default `https://api.autopay.io`. `https://` or loopback `http://`. */
  readonly apiBaseUrl?: string | undefined;
  /**
   * API calls allowed per credential, paced across every process that shares the store; none by
   * default (Autopay documents no number). See docs/rate-limits.md.
   */
  readonly rateLimit?: RateLimit | false | undefined;
}

const optionsSchema = lazySchema(() =>
  z.strictObject({
    clientId: nonEmptyString(),
    clientSecret: secretSourceSchema(),
    audience: nonEmptyString().optional(),
    tokenUrl: secureUrl().optional(),
    apiBaseUrl: secureUrl().optional(),
    rateLimit: rateLimitSchema().optional(),
  }),
);

/**
 * A provider for the Autopay APIs.
 *
 * Wire request: `POST https://api-auth.autopay.io/oauth/token`, `Content-Type: application/json`, body
 * `{"client_id","client_secret","audience","grant_type":"client_credentials"}`.
 * 401 → `InvalidCredentialsError`; 403 `access_denied`/`unauthorized_client` → `InvalidCredentialsError`
 * with that `providerCode`; 429 → `RateLimitedError` (`retryAfterMs` from `Retry-After` or
 * `x-ratelimit-reset`); 408/5xx → `ProviderUnavailableError`; anything else → `InvalidTokenResponseError`.
 *
 * @throws {@link ConfigError} naming every bad option (`autopay.clientSecret`, …).
 *
 * @example
 * ```ts
 * import { createTokenManager, autopay } from 'tokenbroker';
 *
 * const tokens = createTokenManager({
 *   providers: {
 *     autopay: autopay({ clientId: process.env.AUTOPAY_CLIENT_ID!, clientSecret: process.env.AUTOPAY_CLIENT_SECRET! }),
 *   },
 * });
 * await tokens.client('autopay').post('customer_club/v2/join', { json: { … } });
 * ```
 */
export function autopay(options: AutopayOptions): Provider {
  const parsed = parseOptions(optionsSchema(), options, 'autopay');
  const audience = parsed.audience ?? AUTOPAY_DEFAULTS.audience;
  const tokenUrl = parsed.tokenUrl ?? AUTOPAY_DEFAULTS.tokenUrl;
  const apiBaseUrl = withoutTrailingSlash(parsed.apiBaseUrl ?? AUTOPAY_DEFAULTS.apiBaseUrl);
  const paced = resolvedRateLimit(parsed.rateLimit, undefined);
  const endpoint = endpoints.get(JSON.stringify([tokenUrl, audience, apiBaseUrl, paced ?? false]), () => ({
    kind: KIND,
    defaultExpiresInSeconds: DOCUMENTED_MINIMUM_LIFETIME_SECONDS,
    tokenUrl,
    apiBaseUrl,
    variant: audience,
    rateLimit: paced,
  }));
  return new AutopayProvider(parsed.clientId, secretOf('autopay.clientSecret', parsed.clientSecret), endpoint);
}

const endpoints = new Interned<Endpoint>();

/** One Autopay credential. A token is issued for one audience: the audience is the variant. */
class AutopayProvider extends EndpointCredential<Endpoint> {
  protected async send({ signal }: TokenRequestContext, clientId: string, clientSecret: string, endpoint: Endpoint): Promise<TokenResponse> {
    // Made per request (token requests are rare) so no scrubber stays in memory per credential.
    const scrub = credentialScrubber(clientSecret);
    const response = await postTokenRequest({
      url: endpoint.tokenUrl,
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({
        client_id: clientId,
        client_secret: clientSecret,
        audience: endpoint.variant,
        grant_type: 'client_credentials',
      }),
      signal,
      scrub,
    });
    const now = Date.now();
    if (response.status >= 200 && response.status < 300) return successResponse(response, now);
    if (response.status === 401) throw credentialsRefused('Autopay', response, scrub);
    if (response.status === 403) {
      const code = oauthErrorCode(response.json);
      if (code !== undefined && REFUSED_CLIENT_CODES.has(code)) throw credentialsRefused('Autopay', response, scrub, code);
    }
    throw commonFailure(response, scrub, now);
  }
}
