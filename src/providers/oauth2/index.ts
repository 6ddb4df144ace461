/**
 * Any RFC 6749 token endpoint, through openid-client (loaded on the first token request): a fixed
 * `tokenUrl` or discovery from an `issuer`, every RFC client authentication method, DPoP, and RFC 6749
 * §5.2 errors mapped to tokenbroker's error classes.
 *
 * One provider object per credential holds only what is the credential's own (id, secret or key, the
 * cache key); settings, metadata and transport live once per server in a shared {@link Profile}.
 */
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { credentialKey, type Provider, type RateLimit, type TokenRequestContext, type TokenResponse } from '../provider.js';
import { authorizationValue, type Token, type TokenType } from '../../base/token.js';
import { DpopBinding } from './dpop.js';
import type * as Grant from './grant.js';
import { resolveOAuth2Options, type CredentialSettings, type OAuth2Options } from './options.js';
import { profileFor, type Profile } from './profile.js';
import { transportFetch } from './transport.js';

export type { DpopKey, OAuth2AuthMethod, OAuth2Options } from './options.js';
export type { PrivateKeyInput, SigningAlgorithm } from './keys.js';
export type { FetchLike, TlsClientCertificate } from './transport.js';

/**
 * A provider for any RFC 6749 authorization server, built on openid-client.
 *
 * Wire request: `POST {token_endpoint}`, `Content-Type: application/x-www-form-urlencoded`, body
 * `grant_type=client_credentials` plus `scope`/`audience`/`resource`(s)/`extraParams`, and the client
 * authentication of `authMethod`. RFC 6749 §5.2 `invalid_client`, `unauthorized_client`,
 * `access_denied`, `invalid_scope` (and a 401 challenge) → `InvalidCredentialsError`; 429 →
 * `RateLimitedError`; 408/5xx and network failures → `ProviderUnavailableError`; anything else →
 * `InvalidTokenResponseError`.
 *
 * Construction is synchronous and validates every option; nothing is fetched until the first token.
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
  const { shared, credential } = resolveOAuth2Options(options);
  return new OAuth2Provider(profileFor(shared), credential);
}

/** An `oauth2()` provider. Its fields are private: `util.inspect` and JSON see only the public shape. */
class OAuth2Provider implements Provider {
  readonly cacheKey: string;
  // Four fields per credential, the common case holding no object of its own besides the cache key.
  readonly #profile: Profile;
  readonly #clientId: string;
  readonly #clientSecret: string | undefined;
  readonly #extras: Grant.Extras | undefined;

  constructor(profile: Profile, credential: CredentialSettings) {
    this.#profile = profile;
    this.#clientId = credential.clientId;
    this.#clientSecret = credential.clientSecret;
    const { settings } = profile;
    const dpop = credential.dpop === undefined ? undefined : new DpopBinding(credential.dpop);
    const own = credential.tls !== undefined || dpop !== undefined || credential.signingKey !== undefined;
    this.#extras = own ? { credential, transport: credential.tls === undefined ? undefined : transportFetch({ tls: credential.tls }), dpop } : undefined;
    // Everything that changes the request or the token is in the key (and so in the cool-down): a new
    // auth method, resource or key is a new credential, never the old one's remembered refusal.
    const proof = [credential.clientSecret ?? '', credential.signingKey?.thumbprint ?? '', credential.keyId ?? '', tlsIdentity(credential)].join('\n');
    this.cacheKey = credentialKey({
      kind: 'oauth2',
      tokenUrl: settings.tokenUrl ?? settings.issuer!,
      clientId: credential.clientId,
      clientSecret: proof,
      variant: JSON.stringify([settings.authMethod, settings.params, dpop?.thumbprint ?? '']),
    });
    Object.freeze(this);
  }

  get kind(): 'oauth2' {
    return 'oauth2';
  }

  get apiBaseUrl(): string | undefined {
    return this.#profile.settings.apiBaseUrl;
  }

  get defaultExpiresInSeconds(): number | undefined {
    return this.#profile.settings.defaultExpiresInSeconds;
  }

  /** `'DPoP'` with `dpop` set: every token is bound to the key and goes out only with a proof. */
  get tokenType(): TokenType {
    return this.#extras?.dpop === undefined ? 'Bearer' : 'DPoP';
  }

  /** The API's rate limit per credential, from the options. */
  get rateLimit(): RateLimit | undefined {
    return this.#profile.settings.rateLimit;
  }

  async requestToken(context: TokenRequestContext): Promise<TokenResponse> {
    const credential = { profile: this.#profile, clientId: this.#clientId, clientSecret: this.#clientSecret, extras: this.#extras };
    return (await grantCode()).requestToken(credential, context);
  }

  /** Sends an authorised API request: this provider's transport, and a DPoP proof for a bound token. */
  async authorizedFetch(request: Request, token: Token): Promise<Response> {
    const transport = this.#extras?.transport ?? this.#profile.transport;
    const dpop = this.#extras?.dpop;
    if (dpop !== undefined) return (await grantCode()).sendDpopBound(dpop, this.#clientId, request, token, transport);
    const headers = new Headers(request.headers);
    headers.set('authorization', authorizationValue(token.accessToken));
    return transport(new Request(request, { headers }));
  }

  toJSON(): unknown {
    return { kind: this.kind, cacheKey: this.cacheKey, apiBaseUrl: this.apiBaseUrl };
  }

  [inspect.custom](): string {
    return `Provider ${inspect(this.toJSON())}`;
  }
}

let loadingGrant: Promise<typeof Grant> | undefined;

/**
 * grant.ts (and through it openid-client), imported once, on the first token request or DPoP-bound
 * API call: construction validates everything without it, and the request is async anyway.
 */
function grantCode(): Promise<typeof Grant> {
  loadingGrant ??= import('./grant.js').catch((error: unknown) => {
    loadingGrant = undefined;
    throw error;
  });
  return loadingGrant;
}

function tlsIdentity(credential: CredentialSettings): string {
  if (credential.tls === undefined) return '';
  return createHash('sha256').update(credential.tls.cert).update('\n').update(credential.tls.key).digest('base64url');
}
