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
import { InvalidCredentialsError, InvalidTokenResponseError } from '../../errors.js';
import { credentialKey, type Provider, type TokenRequestContext, type TokenResponse } from '../../provider.js';
import { scrub as scrubText } from '../../redact.js';
import type { Token } from '../../token.js';
import { credentialScrubber } from '../shared.js';
import { basicCredentials, chooseMethod, clientAuthFor, rememberMethod, type WireAuthMethod } from './auth.js';
import { DpopBinding, sendWithProof } from './dpop.js';
import { openIdClient, type OpenIdClient } from './library.js';
import { resolveOptions, type CredentialSettings, type OAuth2Options } from './options.js';
import { profileFor, type Profile } from './profile.js';
import { boundFetch, clientCredentialsGrant } from './request.js';
import { transportFetch, type FetchLike } from './transport.js';
import type { ServerMetadata } from 'openid-client';

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
  const { shared, credential } = resolveOptions(options);
  return new OAuth2Provider(profileFor(shared), credential);
}

/** What only a few credentials have: their own key, certificate transport or DPoP binding. */
interface Extras {
  readonly credential: CredentialSettings;
  readonly transport: FetchLike | undefined;
  readonly dpop: DpopBinding | undefined;
}

/** An `oauth2()` provider. Its fields are private: `util.inspect` and JSON see only the public shape. */
class OAuth2Provider implements Provider {
  readonly cacheKey: string;
  // Four fields per credential, the common case holding no object of its own besides the cache key.
  readonly #profile: Profile;
  readonly #clientId: string;
  readonly #clientSecret: string | undefined;
  readonly #extras: Extras | undefined;

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

  async requestToken(context: TokenRequestContext): Promise<TokenResponse> {
    const lib = await openIdClient();
    const profile = this.#profile;
    const scrub = this.#scrubber();
    const transport = this.#extras?.transport ?? profile.transport;
    try {
      const metadata = await profile.metadata.current(lib, boundFetch(transport, context.signal, scrub).fetch);
      const { method, mayFallBack } = chooseMethod(profile.settings, metadata);
      try {
        return await this.#grant(lib, metadata, method, transport, context.signal, scrub);
      } catch (error) {
        // 'auto' with nothing known: a server that refused Basic may take the secret in the body
        // (Go's AuthStyleAutoDetect). Tried once, and counted in the issuance guard like any request.
        if (!mayFallBack || !refusedAuthentication(error)) throw error;
        if (context.spendExtraRequest !== undefined && !(await context.spendExtraRequest())) throw error;
        const response = await this.#grant(lib, metadata, 'client_secret_post', transport, context.signal, scrub);
        rememberMethod(metadata.token_endpoint!, 'client_secret_post');
        return response;
      }
    } catch (error) {
      profile.metadata.markStale();
      throw error;
    }
  }

  async #grant(
    lib: OpenIdClient,
    metadata: ServerMetadata,
    method: WireAuthMethod,
    transport: FetchLike,
    signal: AbortSignal,
    scrub: (text: string) => string,
  ): Promise<TokenResponse> {
    const extras = this.#extras;
    const credential = extras?.credential ?? {
      clientId: this.#clientId,
      clientSecret: this.#clientSecret,
      signingKey: undefined,
      keyId: undefined,
      tls: undefined,
      dpop: undefined,
    };
    const dpop = extras?.dpop === undefined ? undefined : await extras.dpop.handle(lib, credential.clientId);
    const { body, quota, tokenType } = await clientCredentialsGrant({
      lib,
      metadata,
      clientId: credential.clientId,
      auth: await clientAuthFor(lib, method, credential),
      mutualTls: method === 'tls_client_auth' || method === 'self_signed_tls_client_auth',
      params: this.#profile.settings.params,
      dpop,
      transport,
      signal,
      scrub,
    });
    if (extras?.dpop !== undefined) {
      // Asked for DPoP, a Bearer token is refused rather than used unbound: with `dpop` set, every
      // token of this provider is DPoP-bound, including one another process stored (see authorizedFetch).
      if (tokenType?.toLowerCase() !== 'dpop') {
        throw new InvalidTokenResponseError(
          `Token endpoint answered token_type ${JSON.stringify(tokenType ?? null)}; dpop is set, so only a DPoP-bound token is accepted`,
        );
      }
      // The manager caches Bearer-typed tokens; the binding is this provider's, and its authorised
      // requests say `DPoP` with a proof.
      body.token_type = 'Bearer';
    }
    return { body, quota };
  }

  /** Sends an authorised API request: this provider's transport, and a DPoP proof for a bound token. */
  async authorizedFetch(request: Request, token: Token): Promise<Response> {
    const transport = this.#extras?.transport ?? this.#profile.transport;
    const dpop = this.#extras?.dpop;
    if (dpop !== undefined) return sendWithProof(await dpop.handle(await openIdClient(), this.#clientId), request, token, transport);
    const headers = new Headers(request.headers);
    headers.set('authorization', `Bearer ${token.accessToken}`);
    return transport(new Request(request, { headers }));
  }

  /** Built on the error path only: a scrubber per credential would cost memory on every one. */
  #scrubber(): (text: string) => string {
    const clientId = this.#clientId;
    const clientSecret = this.#clientSecret;
    let scrubber: ((text: string) => string) | undefined;
    return (text) => {
      scrubber ??=
        clientSecret === undefined
          ? (value: string) => scrubText(value)
          : credentialScrubber(clientSecret, [basicCredentials(clientId, clientSecret), `${clientId}:${clientSecret}`]);
      return scrubber(text);
    };
  }

  toJSON(): unknown {
    return { kind: this.kind, cacheKey: this.cacheKey, apiBaseUrl: this.apiBaseUrl };
  }

  [inspect.custom](): string {
    return `Provider ${inspect(this.toJSON())}`;
  }
}

function refusedAuthentication(error: unknown): boolean {
  return error instanceof InvalidCredentialsError && (error.status === 401 || error.providerCode === 'invalid_client');
}

function tlsIdentity(credential: CredentialSettings): string {
  if (credential.tls === undefined) return '';
  return createHash('sha256').update(credential.tls.cert).update('\n').update(credential.tls.key).digest('base64url');
}
