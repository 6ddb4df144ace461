/**
 * Any RFC 6749 token endpoint, through openid-client: a fixed `tokenUrl` or discovery from an `issuer`,
 * `client_secret_basic` (RFC 6749 §2.3.1 encoding) or `client_secret_post`, and RFC 6749 §5.2 errors
 * mapped to tokenbroker's error classes.
 *
 * Every HTTP request openid-client makes goes through our own fetch wrapper, which applies the
 * manager's abort signal, never follows redirects, bounds the body read and turns the failures every
 * endpoint shares (3xx, 408, 429, 5xx, network) into typed errors before openid-client sees them.
 */
import {
  allowInsecureRequests,
  clientCredentialsGrant,
  ClientSecretBasic,
  ClientSecretPost,
  Configuration,
  customFetch,
  discovery,
  ResponseBodyError,
  WWWAuthenticateChallengeError,
  type ClientAuth,
  type CustomFetch,
} from 'openid-client';
import { z } from 'zod';
import {
  InvalidCredentialsError,
  InvalidTokenResponseError,
  safeCause,
  TokenError,
} from '../errors.js';
import {
  commonFailure,
  oauthErrorCode,
  readTokenAnswer,
  transportError,
  type TokenHttpResponse,
} from '../http.js';
import { parseQuota } from '../headers.js';
import { urlIssue } from '../url-policy.js';
import { defineProvider, type Provider } from '../provider.js';
import { scrub as scrubText } from '../redact.js';
import { nonEmptyString, parseOptions, secureUrl } from '../validate.js';
import { credentialScrubber, credentialsRefused, formUrlEncode } from './shared.js';

/**
 * Options of {@link oauth2}. Give exactly one of `tokenUrl` and `issuer`.
 *
 * @example
 * ```ts
 * const options: OAuth2Options = {
 *   issuer: 'https://auth.example.com',
 *   clientId: process.env.CLIENT_ID!,
 *   clientSecret: process.env.CLIENT_SECRET!,
 *   scope: 'payments:read payments:write',
 * };
 * const provider = oauth2(options);
 * ```
 */
export interface OAuth2Options {
  /** The token endpoint, when known. `https://`, or `http://` to a loopback host only. */
  readonly tokenUrl?: string | undefined;
  /**
   * The issuer identifier: its `/.well-known/openid-configuration` is fetched on the first token
   * request (and again after a failed attempt) to find the token endpoint.
   */
  readonly issuer?: string | undefined;
  /** The client id. */
  readonly clientId: string;
  /** The client secret. Kept only in closures; never shown. */
  readonly clientSecret: string;
  /** The `scope` parameter (space-separated), when the server wants one. */
  readonly scope?: string | undefined;
  /** The `audience` parameter (Auth0 and others). */
  readonly audience?: string | undefined;
  /** The `resource` parameter (RFC 8707). */
  readonly resource?: string | undefined;
  /**
   * How the client authenticates: `'client_secret_basic'` (default; HTTP Basic with id and secret
   * form-urlencoded first, RFC 6749 §2.3.1) or `'client_secret_post'` (both in the form body).
   */
  readonly authMethod?: 'client_secret_basic' | 'client_secret_post' | undefined;
  /** Prefix for `tokens.client(id)`. `https://`, or `http://` to a loopback host only. */
  readonly apiBaseUrl?: string | undefined;
  /**
   * Lifetime to assume when a response has no `expires_in` (RFC 6749 only recommends it), in seconds.
   * Without it such a response is an `InvalidTokenResponseError`: a guessed lifetime could be wrong.
   */
  readonly defaultExpiresInSeconds?: number | undefined;
  /** Further token request parameters. Cannot override `grant_type`, the client credentials, `scope`, `audience` or `resource`. */
  readonly extraParams?: Readonly<Record<string, string>> | undefined;
}

/** Parameters that the other options own. */
const RESERVED_PARAMS = new Set([
  'grant_type',
  'client_id',
  'client_secret',
  'client_assertion',
  'client_assertion_type',
  'scope',
  'audience',
  'resource',
]);

/** RFC 6749 §5.2 codes that mean "this client cannot have this token": retrying cannot help. */
const REFUSED_CLIENT_CODES = new Set(['invalid_client', 'unauthorized_client', 'access_denied', 'invalid_scope']);

const optionsSchema = z
  .strictObject({
    tokenUrl: secureUrl.optional(),
    issuer: secureUrl.optional(),
    clientId: nonEmptyString,
    clientSecret: nonEmptyString,
    scope: nonEmptyString.optional(),
    audience: nonEmptyString.optional(),
    resource: nonEmptyString.optional(),
    authMethod: z.enum(['client_secret_basic', 'client_secret_post']).optional(),
    apiBaseUrl: secureUrl.optional(),
    defaultExpiresInSeconds: z.number().int().positive().optional(),
    extraParams: z
      .record(z.string(), z.string())
      .superRefine((params, ctx) => {
        for (const key of Object.keys(params)) {
          if (key.length === 0) ctx.addIssue({ code: 'custom', path: [key], message: 'has an empty parameter name' });
          else if (RESERVED_PARAMS.has(key)) {
            ctx.addIssue({ code: 'custom', path: [key], message: 'is set by tokenbroker or by its own option' });
          }
        }
      })
      .optional(),
  })
  // Checked even when other fields are wrong, so one ConfigError lists every problem.
  .superRefine(
    (value, ctx) => {
      const { tokenUrl, issuer } = value as { tokenUrl?: unknown; issuer?: unknown };
      if (tokenUrl === undefined && issuer === undefined) {
        ctx.addIssue({ code: 'custom', path: ['tokenUrl'], message: 'is required unless issuer is given (give exactly one)' });
      } else if (tokenUrl !== undefined && issuer !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'cannot be combined with tokenUrl (give exactly one)' });
      }
    },
    { when: (payload) => typeof payload.value === 'object' && payload.value !== null },
  );

/**
 * A provider for any RFC 6749 authorization server, built on openid-client.
 *
 * Wire request: `POST {token_endpoint}`, `Content-Type: application/x-www-form-urlencoded`, body
 * `grant_type=client_credentials` plus `scope`/`audience`/`resource`/`extraParams`, and either
 * `Authorization: Basic base64(formEncode(id):formEncode(secret))` or `client_id` + `client_secret` in
 * the body. RFC 6749 §5.2 `invalid_client`, `unauthorized_client`, `access_denied`, `invalid_scope`
 * (and a 401 challenge) → `InvalidCredentialsError`; 429 → `RateLimitedError`; 408/5xx and network
 * failures → `ProviderUnavailableError`; anything else → `InvalidTokenResponseError`.
 *
 * @throws {@link ConfigError} naming every bad option (`oauth2.tokenUrl`, …).
 *
 * @example
 * ```ts
 * import { createTokenManager, oauth2 } from 'tokenbroker';
 *
 * const tokens = createTokenManager({
 *   providers: {
 *     bank: oauth2({
 *       tokenUrl: 'https://auth.bank.example/oauth2/token',
 *       clientId: process.env.BANK_CLIENT_ID!,
 *       clientSecret: process.env.BANK_CLIENT_SECRET!,
 *       scope: 'accounts',
 *       apiBaseUrl: 'https://api.bank.example/v1',
 *     }),
 *   },
 * });
 * ```
 */
export function oauth2(options: OAuth2Options): Provider {
  const parsed = parseOptions(optionsSchema, options, 'oauth2');
  const { tokenUrl, issuer, clientId, clientSecret, scope, audience, resource, extraParams } = parsed;
  const authMethod = parsed.authMethod ?? 'client_secret_basic';

  const scrub = credentialScrubber(clientSecret, [
    `${formUrlEncode(clientId)}:${formUrlEncode(clientSecret)}`,
    `${clientId}:${clientSecret}`,
  ]);
  // The secret stays in this closure (openid-client's auth function closes over it too); it is not
  // copied into openid-client's client metadata, which has no use for it with an explicit auth method.
  const auth: ClientAuth = authMethod === 'client_secret_post' ? ClientSecretPost(clientSecret) : ClientSecretBasic(clientSecret);
  const parameters: Record<string, string> = { ...extraParams };
  if (scope !== undefined) parameters.scope = scope;
  if (audience !== undefined) parameters.audience = audience;
  if (resource !== undefined) parameters.resource = resource;

  const configurationFor = tokenUrl !== undefined ? fixedConfiguration(tokenUrl, clientId, auth) : discoveredConfiguration(issuer!, clientId, auth);

  return defineProvider({
    kind: 'oauth2',
    tokenUrl: tokenUrl ?? issuer!,
    clientId,
    clientSecret,
    variant: JSON.stringify([
      scope ?? '',
      audience ?? '',
      resource ?? '',
      Object.entries(extraParams ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    ]),
    apiBaseUrl: parsed.apiBaseUrl,
    defaultExpiresInSeconds: parsed.defaultExpiresInSeconds,
    async requestToken({ signal }) {
      const exchange = boundFetch(signal, scrub);
      try {
        const config = await configurationFor(exchange.fetch);
        // clientCredentialsGrant reads the fetch function synchronously when called, so concurrent
        // requests sharing one Configuration each use their own (and their own signal).
        config[customFetch] = exchange.fetch;
        const result = await clientCredentialsGrant(config, parameters);
        const answer = exchange.lastAnswer();
        return {
          // A plain copy: openid-client's helper methods are non-enumerable and stay behind.
          body: { ...result },
          quota: answer === undefined ? undefined : parseQuota(answer.headers, Date.now()),
        };
      } catch (error) {
        throw exchange.failure() ?? tokenRequestError(error, signal, scrub, exchange.lastAnswer());
      }
    },
  });
}

type ConfigurationSource = (fetch: CustomFetch) => Promise<Configuration>;

function isHttp(url: string): boolean {
  return new URL(url).protocol === 'http:';
}

function fixedConfiguration(tokenUrl: string, clientId: string, auth: ClientAuth): ConfigurationSource {
  const config = new Configuration({ issuer: new URL(tokenUrl).origin, token_endpoint: tokenUrl }, clientId, undefined, auth);
  // secureUrl let `http://` through only for loopback hosts.
  if (isHttp(tokenUrl)) allowInsecureRequests(config);
  return () => Promise.resolve(config);
}

/**
 * Discovery on first use, memoised. A failure is forgotten, so the next token request tries again
 * (the manager's retries and backoff apply to it like to any token request).
 */
function discoveredConfiguration(issuer: string, clientId: string, auth: ClientAuth): ConfigurationSource {
  let pending: Promise<Configuration> | undefined;
  return (fetch) => {
    if (pending !== undefined) return pending;
    const attempt = (async () => {
      let config: Configuration;
      try {
        config = await discovery(new URL(issuer), clientId, undefined, auth, {
          [customFetch]: fetch,
          execute: isHttp(issuer) ? [allowInsecureRequests] : [],
        });
      } catch (error) {
        throw discoveryError(issuer, error);
      }
      const tokenEndpoint = config.serverMetadata().token_endpoint;
      const problem = tokenEndpoint === undefined ? undefined : urlIssue(tokenEndpoint, 'token_endpoint');
      if (tokenEndpoint === undefined || problem !== undefined) {
        throw new InvalidTokenResponseError(
          `Discovery document of ${issuer} has ${tokenEndpoint === undefined ? 'no token_endpoint' : `an unusable token_endpoint (${problem!.message})`}`,
        );
      }
      return config;
    })();
    pending = attempt;
    attempt.catch(() => {
      if (pending === attempt) pending = undefined;
    });
    return attempt;
  };
}

function discoveryError(issuer: string, error: unknown): TokenError {
  const own = ownError(error);
  if (own !== undefined) return own;
  // The discovery request carries no secret, but the body it quotes is a stranger's: scrub it anyway.
  return new InvalidTokenResponseError(`Discovery of ${issuer} failed: ${describe(error, scrubText)}`, {
    cause: safeCause(error, scrubText),
  });
}

/** One token request's fetch: our signal, no redirects, bounded bodies, typed errors for shared failures. */
function boundFetch(
  signal: AbortSignal,
  scrub: (text: string) => string,
): { fetch: CustomFetch; failure(): TokenError | undefined; lastAnswer(): TokenHttpResponse | undefined } {
  let failure: TokenError | undefined;
  let lastAnswer: TokenHttpResponse | undefined;
  const send: CustomFetch = async (url, init) => {
    const combined = init.signal === undefined ? signal : AbortSignal.any([signal, init.signal]);
    try {
      let response: Response;
      try {
        response = await fetch(url, {
          method: init.method,
          headers: init.headers,
          body: init.body as RequestInit['body'],
          redirect: 'manual',
          signal: combined,
        });
      } catch (error) {
        throw transportError(error, combined, scrub);
      }
      lastAnswer = await readTokenAnswer(response, combined, scrub);
      const { status, headers, text } = lastAnswer;
      if ((status >= 300 && status < 400) || status === 408 || status === 429 || status >= 500) {
        throw commonFailure(lastAnswer, scrub, Date.now());
      }
      // openid-client gets a fresh Response over the text we already read (and bounded).
      return new Response(status === 204 || status === 205 ? null : text, { status, headers });
    } catch (error) {
      if (error instanceof TokenError) failure = error;
      throw error;
    }
  };
  return { fetch: send, failure: () => failure, lastAnswer: () => lastAnswer };
}

/** Maps what openid-client threw to one of our errors, keeping nothing of it but scrubbed text. */
function tokenRequestError(
  error: unknown,
  signal: AbortSignal,
  scrub: (text: string) => string,
  answer: TokenHttpResponse | undefined,
): TokenError {
  const own = ownError(error);
  if (own !== undefined) return own;
  if (error instanceof ResponseBodyError) {
    const providerCode = oauthErrorCode({ error: error.error });
    const description = typeof error.error_description === 'string' ? `: ${scrub(error.error_description)}` : '';
    const summary = `(HTTP ${error.status}${providerCode === undefined ? '' : ` ${providerCode}`})${description}`;
    if (providerCode !== undefined && REFUSED_CLIENT_CODES.has(providerCode)) {
      return new InvalidCredentialsError(`Token endpoint refused the client credentials ${summary}`, {
        status: error.status,
        providerCode,
      });
    }
    return new InvalidTokenResponseError(`Token endpoint answered with an error ${summary}`, {
      status: error.status,
      providerCode,
    });
  }
  if (error instanceof WWWAuthenticateChallengeError) {
    const challengeCode = error.cause.map((challenge) => challenge.parameters.error).find((code) => code !== undefined);
    const providerCode = oauthErrorCode({ error: challengeCode });
    if (error.status === 401) {
      return new InvalidCredentialsError(`Token endpoint refused the client credentials (HTTP 401 with a WWW-Authenticate challenge)`, {
        status: 401,
        providerCode,
      });
    }
    return new InvalidTokenResponseError(`Token endpoint answered HTTP ${error.status} with a WWW-Authenticate challenge`, {
      status: error.status,
      providerCode,
    });
  }
  if (signal.aborted) return transportError(error, signal, scrub);
  // A non-2xx answer without an RFC 6749 error body: say what the server said, not what openid-client thought of it.
  // A bare 401 from a token endpoint can only be about the client's authentication (RFC 6749 §5.2).
  if (answer?.status === 401) return credentialsRefused('Token endpoint', answer, scrub);
  if (answer !== undefined && (answer.status < 200 || answer.status >= 300)) return commonFailure(answer, scrub, Date.now());
  return new InvalidTokenResponseError(`Token response was rejected: ${describe(error, scrub)}`, {
    cause: safeCause(error, scrub),
  });
}

/** Our own error, thrown inside the fetch wrapper and possibly wrapped by openid-client on its way out. */
function ownError(error: unknown): TokenError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    if (current instanceof TokenError) return current;
    current = current.cause;
  }
  return undefined;
}

/** `message: inner message`, for openid-client's wrapped errors ("invalid response encountered: …"). */
function describe(error: unknown, scrub: (text: string) => string): string {
  if (!(error instanceof Error)) return 'unknown error';
  const inner = error.cause instanceof Error && error.cause.message !== error.message ? `: ${error.cause.message}` : '';
  return scrub(`${error.message}${inner}`);
}
