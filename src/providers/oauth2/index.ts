/**
 * Any RFC 6749 token endpoint, through openid-client (loaded on the first token request): a fixed
 * `tokenUrl` or discovery from an `issuer`, every RFC client authentication method, DPoP, and RFC 6749
 * §5.2 errors mapped to tokenbroker's error classes.
 *
 * One provider object per credential holds only what is the credential's own (id, secret or key, the
 * cache key); settings, metadata and transport live once per server in a shared {@link Profile}.
 */
import { createHash, randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { credentialKey, type Provider, type RateLimit, type TokenRequestContext, type TokenResponse } from '../provider.js';
import { authorizationValue, type Token, type TokenType } from '../../base/token.js';
import { DpopBinding } from './dpop.js';
import type * as Grant from './grant.js';
import { resolveOAuth2Options, type CredentialSettings, type CredentialSources, type OAuth2Options } from './options.js';
import { profileFor, type Profile } from './profile.js';
import { readSources } from './sources.js';
import type { SecretReader } from '../secret-source.js';
import { transportFetch } from './transport.js';

export type { DpopKey, OAuth2AuthMethod, OAuth2Options, TlsClientCertificateSources } from './options.js';
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
  const { shared, credential, sources } = resolveOAuth2Options(options);
  return new OAuth2Provider(profileFor(shared), credential, sources);
}

/** An `oauth2()` provider. Its fields are private: `util.inspect` and JSON see only the public shape. */
class OAuth2Provider implements Provider {
  #cacheKey: string;
  // Five fields per credential (the key among them), the common case holding no object of its own
  // besides the cache key.
  readonly #profile: Profile;
  readonly #clientId: string;
  #clientSecret: string | undefined;
  // Secrets from functions or files keep their readers in the extras (`dynamic`): no field of their own.
  #extras: (Grant.Extras & { readonly dynamic?: Dynamic | undefined }) | undefined;

  constructor(profile: Profile, credential: CredentialSettings, sources: CredentialSources | undefined) {
    this.#profile = profile;
    this.#clientId = credential.clientId;
    const dynamic: Dynamic | undefined = sources === undefined ? undefined : { sources, credential, assertion: undefined, read: false };
    this.#cacheKey = '';
    this.#adopt(credential, dynamic);
    Object.freeze(this);
  }

  get cacheKey(): string {
    return this.#cacheKey;
  }

  /** Takes `credential` as this provider's: its secret, its extras, its cache key. */
  #adopt(credential: CredentialSettings, dynamic: Dynamic | undefined): void {
    const { settings } = this.#profile;
    this.#clientSecret = credential.clientSecret;
    if (dynamic !== undefined) dynamic.credential = credential;
    const previousDpop = this.#extras?.dpop;
    const dpop = credential.dpop === undefined ? undefined : (previousDpop ?? new DpopBinding(credential.dpop));
    const sources = dynamic?.sources;
    const assertion = sources?.clientAssertion !== undefined;
    const own = credential.tls !== undefined || dpop !== undefined || credential.signingKey !== undefined || dynamic !== undefined;
    this.#extras = own
      ? { credential, transport: credential.tls === undefined ? undefined : transportFetch({ tls: credential.tls }), dpop, dynamic }
      : undefined;
    // Everything that changes the request or the token is in the key (and so in the cool-down): a new
    // auth method, resource or key is a new credential, never the old one's remembered refusal. A
    // source not read yet (a function) stands in with a key no other process can have.
    const unread = (reader: SecretReader | undefined, value: unknown) => (reader !== undefined && value === undefined ? `unread:${randomUUID()}` : '');
    const proof = [
      credential.clientSecret ?? unread(sources?.clientSecret, credential.clientSecret),
      credential.signingKey?.thumbprint ?? unread(sources?.privateKey, credential.signingKey),
      credential.keyId ?? '',
      tlsIdentity(credential) || unread(sources?.tlsCert ?? sources?.tlsKey, credential.tls),
      // An assertion's identity is where it comes from (the file; for a function, the client id alone), never its value.
      assertion ? `assertion:${sources!.clientAssertion!.path ?? 'function'}` : '',
    ].join('\n');
    this.#cacheKey = credentialKey({
      kind: 'oauth2',
      tokenUrl: settings.tokenUrl ?? settings.issuer!,
      clientId: credential.clientId,
      clientSecret: proof,
      variant: JSON.stringify([settings.authMethod, settings.params, dpop?.thumbprint ?? '']),
    });
  }

  /** Reads the secrets that come from functions or files (and the client assertion, for the next request). */
  async readSecrets(report: (problem: string) => void): Promise<boolean> {
    const dynamic = this.#extras?.dynamic;
    if (dynamic === undefined) return false;
    const read = await readSources(dynamic.sources, dynamic.credential, report);
    dynamic.assertion = read.assertion;
    dynamic.read = true;
    if (read.credential !== dynamic.credential) this.#adopt(read.credential, dynamic);
    return read.changed;
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
    let clientAssertion: string | undefined;
    const dynamic = this.#extras?.dynamic;
    if (dynamic !== undefined) {
      // Each request carries the assertion read just before it; a retry (or a caller of requestToken
      // alone) reads again, so an assertion is never sent twice across a gap.
      if (!dynamic.read || (dynamic.sources.clientAssertion !== undefined && dynamic.assertion === undefined)) await this.readSecrets(() => {});
      clientAssertion = dynamic.assertion;
      dynamic.assertion = undefined;
    }
    const credential = { profile: this.#profile, clientId: this.#clientId, clientSecret: this.#clientSecret, extras: this.#extras, clientAssertion };
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
    return { kind: this.kind, cacheKey: this.#cacheKey, apiBaseUrl: this.apiBaseUrl };
  }

  [inspect.custom](): string {
    return `Provider ${inspect(this.toJSON())}`;
  }
}

/** What a provider whose secrets come from functions or files keeps besides the common fields. */
interface Dynamic {
  readonly sources: CredentialSources;
  /** The settings made from the values read last. */
  credential: CredentialSettings;
  /** The client assertion read for the next request; taken (cleared) by it. */
  assertion: string | undefined;
  /** Whether the sources have been read once (a function source has no value before). */
  read: boolean;
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
