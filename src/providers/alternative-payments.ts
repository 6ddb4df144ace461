/**
 * Alternative Payments: `POST {base}/oauth/token` with a form body and HTTP Basic credentials that are
 * Base64-encoded as `clientId:clientSecret` verbatim (the provider's documentation says so; it does not
 * apply the RFC 6749 §2.3.1 form-encoding first).
 */
import { z } from 'zod';
import { commonFailure, postTokenRequest, successResponse } from '../base/http.js';
import type { Provider, TokenRequestContext } from './provider.js';
import type { TokenResponse } from '../base/token.js';
import { lazySchema, nonEmptyString, parseOptions, secureUrl } from '../base/validate.js';
import { rateLimitSchema, resolvedRateLimit, type RateLimit } from '../base/rate-limit.js';
import { secretOf, secretSourceSchema, type SecretSource } from './secret-source.js';
import { credentialScrubber, credentialsRefused, EndpointCredential, Interned, withoutTrailingSlash, type Endpoint } from './shared.js';

/** Base URLs of the two Alternative Payments environments. */
const ALTERNATIVE_PAYMENTS_BASE_URLS = {
  production: 'https://public-api.alternativepayments.io',
  demo: 'https://public-api.demo.alternativepayments.io',
} as const;

const KIND = 'alternative-payments';

/** The documented API limit: 5 requests per second per API key. */
const DOCUMENTED_RATE_LIMIT: RateLimit = Object.freeze({ requests: 5, perMs: 1000 });

/** Token lifetime to assume if a response ever lacks `expires_in`: the documented 3600 s. */
const DOCUMENTED_LIFETIME_SECONDS = 3600;

/**
 * Options of {@link alternativePayments}.
 *
 * @example
 * ```ts
 * const options: AlternativePaymentsOptions = {
 *   clientId: process.env.AP_CLIENT_ID!,
 *   clientSecret: process.env.AP_CLIENT_SECRET!,
 *   environment: 'demo',
 * };
 * const ap = alternativePayments(options);
 * ```
 */
export interface AlternativePaymentsOptions {
  /** The client id from the Partner Dashboard. Must not contain `:` (Basic credentials cannot carry it). */
  readonly clientId: string;
  /**
   * The client secret: the value, a function that returns it (called before each token request), or
   * `secretFile(path)` (read again before each token request; see docs/secrets.md). Kept only in a
   * private field; never shown.
   */
  readonly clientSecret: SecretSource;
  /**
   * `'production'` (default, `https://public-api.alternativepayments.io`) or `'demo'`
   * (`https://public-api.demo.alternativepayments.io`). Each has its own credentials and tokens.
   */
  readonly environment?: 'production' | 'demo' | undefined;
  /**
   * Overrides the environment's base URL (the emulator, a proxy). `https://`, or `http://` to a
   * loopback host only. The token URL is `{baseUrl}/oauth/token`; API calls go to `{baseUrl}`.
   */
  readonly baseUrl?: string | undefined;
  /**
   * API calls allowed per credential, paced across every process that shares the store (default
   * `{ requests: 5, perMs: 1000 }`, the documented limit); `false` turns pacing off. See docs/rate-limits.md.
   */
  readonly rateLimit?: RateLimit | false | undefined;
}

const optionsSchema = lazySchema(() =>
  z.strictObject({
    clientId: nonEmptyString().refine((id) => !id.includes(':'), {
      message: 'must not contain ":" (HTTP Basic credentials cannot carry it)',
    }),
    clientSecret: secretSourceSchema(),
    environment: z.enum(['production', 'demo']).optional(),
    baseUrl: secureUrl().optional(),
    rateLimit: rateLimitSchema().optional(),
  }),
);

/**
 * A provider for the Alternative Payments API.
 *
 * Wire request: `POST {base}/oauth/token`, `Content-Type: application/x-www-form-urlencoded`,
 * `Authorization: Basic base64(clientId:clientSecret)`, body exactly `grant_type=client_credentials`.
 * 401/403 → `InvalidCredentialsError`; 429 → `RateLimitedError`; 408/5xx → `ProviderUnavailableError`;
 * a redirect or anything else → `InvalidTokenResponseError`.
 *
 * @throws {@link ConfigError} naming every bad option (`alternativePayments.clientSecret`, …).
 *
 * @example
 * ```ts
 * import { createTokenManager, alternativePayments } from 'tokenbroker';
 *
 * const tokens = createTokenManager({
 *   providers: {
 *     ap: alternativePayments({
 *       clientId: process.env.AP_CLIENT_ID!,
 *       clientSecret: process.env.AP_CLIENT_SECRET!,
 *       environment: 'demo',
 *     }),
 *   },
 * });
 * const customers = await tokens.client('ap').get('customers').json();
 * ```
 */
export function alternativePayments(options: AlternativePaymentsOptions): Provider {
  const { clientId, clientSecret, environment, baseUrl, rateLimit } = parseOptions(optionsSchema(), options, 'alternativePayments');
  const base = withoutTrailingSlash(baseUrl ?? ALTERNATIVE_PAYMENTS_BASE_URLS[environment ?? 'production']);
  const paced = resolvedRateLimit(rateLimit, DOCUMENTED_RATE_LIMIT);
  const endpoint = endpoints.get(JSON.stringify([base, paced ?? false]), () => ({
    kind: KIND,
    defaultExpiresInSeconds: DOCUMENTED_LIFETIME_SECONDS,
    tokenUrl: `${base}/oauth/token`,
    apiBaseUrl: base,
    variant: base,
    rateLimit: paced,
  }));
  return new AlternativePaymentsProvider(clientId, secretOf('alternativePayments.clientSecret', clientSecret), endpoint);
}

const endpoints = new Interned<Endpoint>();

/** One Alternative Payments credential. Demo and production tokens are refused by each other: the base URL is the variant. */
class AlternativePaymentsProvider extends EndpointCredential<Endpoint> {
  protected async send({ signal }: TokenRequestContext, clientId: string, clientSecret: string, endpoint: Endpoint): Promise<TokenResponse> {
    // Built per request (token requests are rare) so no credential-sized string or scrubber stays in memory per credential.
    const basicCredentials = `${clientId}:${clientSecret}`;
    const scrub = credentialScrubber(clientSecret, [basicCredentials]);
    const response = await postTokenRequest({
      url: endpoint.tokenUrl,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
        authorization: `Basic ${Buffer.from(basicCredentials, 'utf8').toString('base64')}`,
      },
      body: 'grant_type=client_credentials',
      signal,
      scrub,
    });
    const now = Date.now();
    if (response.status >= 200 && response.status < 300) return successResponse(response, now);
    // The provider documents 403 for bad credentials or a malformed Basic header; 401 means the same.
    if (response.status === 401 || response.status === 403) {
      throw credentialsRefused('Alternative Payments', response, scrub);
    }
    throw commonFailure(response, scrub, now);
  }
}
