/**
 * What a provider is: data plus one function that performs one token round-trip. A provider knows its
 * wire format and nothing of caching, retries or budgets (those are the core layer's: manager, issuer, guard).
 */
import { createHash, randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import type { Token, TokenResponse, TokenType } from '../base/token.js';
import { rateLimitSchema, resolvedRateLimit, type RateLimit } from '../base/rate-limit.js';
import { parseOptions } from '../base/validate.js';
import { secretOf, secretSourceSchema, type SecretReader, type SecretSource } from './secret-source.js';

export type { RateLimit } from '../base/rate-limit.js';

export type { QuotaHint, TokenResponse } from '../base/token.js';

/** What the manager passes to {@link Provider.requestToken}. */
export interface TokenRequestContext {
  /** Aborts the request: the caller gave up or the per-attempt timeout fired. */
  readonly signal: AbortSignal;
  /** Per-attempt timeout in ms, for providers whose HTTP stack wants it explicitly. */
  readonly timeoutMs: number;
  /**
   * Asks the issuance guard for one more token request within this attempt (an `oauth2()` client
   * retrying with another auth method); `false` means the budget is spent and it must not be sent.
   */
  readonly spendExtraRequest?: (() => Promise<boolean>) | undefined;
  /**
   * The access token this request replaces because it was rejected (a 401 through `client()`/`fetch()`,
   * or `invalidate(id, token)`); undefined otherwise. A provider that is itself a cache (`fromBroker`)
   * reports it upstream; others ignore it.
   */
  readonly rejectedAccessToken?: string | undefined;
}

/**
 * A source of access tokens for one credential.
 *
 * `requestToken` performs exactly one round-trip and throws only {@link TokenError} subclasses:
 * `InvalidCredentialsError`, `RateLimitedError`, `ProviderUnavailableError` or `InvalidTokenResponseError`.
 */
export interface Provider {
  /** `'alternative-payments' | 'autopay' | 'oauth2'` or a custom name. */
  readonly kind: string;
  /**
   * Identity of the credential: token URL + client id + audience/scope + a hash of the secret, so a
   * rotated secret gets a new key. Never the raw secret.
   */
  readonly cacheKey: string;
  /** Prefix for the authorised API client (`tokens.client(id)`), when the provider has an API. */
  readonly apiBaseUrl?: string | undefined;
  /** Lifetime to assume when a response has no `expires_in`, in seconds. */
  readonly defaultExpiresInSeconds?: number | undefined;
  /**
   * `'DPoP'` when every token of this provider is DPoP-bound (its `token_type` must say so, and
   * `getAuthorizationHeader` refuses it); `'Bearer'` or absent otherwise.
   */
  readonly tokenType?: TokenType | undefined;
  /**
   * The API's rate limit per credential: `tokens.client(id)`/`fetch(id)` and `tokens.acquire(id)` keep
   * calls within it, across every process sharing the store (docs/rate-limits.md). Undefined: no pacing.
   */
  readonly rateLimit?: RateLimit | undefined;
  /** Performs one token request. */
  requestToken(context: TokenRequestContext): Promise<TokenResponse>;
  /**
   * Reads again every secret of this provider that comes from a function or a file (see
   * `secretFile`). The manager calls it before each token request and again when the token endpoint
   * refuses the credentials; `cacheKey` may change with it (a rotated secret is a new credential).
   * Resolves to whether any secret changed; `report` gets problems that did not stop the read (a file
   * that was empty and kept its last good value), never a value. Absent, or resolving `false`, when
   * every secret is a plain value.
   *
   * @throws {@link ConfigError} naming the field, when a source fails with no good value to keep.
   */
  readSecrets?(report: (problem: string) => void): Promise<boolean>;
  /**
   * Sends an authorised API request for `tokens.client(id)`/`fetch(id)` when the provider needs more
   * than `Authorization: Bearer` over the global fetch (its own transport, DPoP proofs). The 401 rule
   * stays the client's.
   */
  authorizedFetch?(request: Request, token: Token): Promise<Response>;
}

/** What the manager passes to a {@link ProviderDefinition}'s `requestToken`: the context, and the secret. */
export interface DefinedTokenRequestContext extends TokenRequestContext {
  /**
   * The client secret to send: the definition's value, or what its function or file gave at the last
   * read (before this request; again after a refusal). Use it rather than a copy of your own, so a
   * rotated secret is sent as soon as it is read.
   */
  readonly clientSecret: string;
}

/** What {@link defineProvider} takes. */
export interface ProviderDefinition {
  /** A short name for the kind of provider, e.g. `'my-bank'`. */
  readonly kind: string;
  /** The token endpoint, part of the cache key. */
  readonly tokenUrl: string;
  /** The client id, part of the cache key. */
  readonly clientId: string;
  /**
   * The secret: a value, a function returning it (`() => string | Promise<string>`) or
   * `secretFile(path)`, read again before each token request and after a refusal (docs/secrets.md).
   * Only its hash goes into the cache key, so a rotated secret gets a new key. `requestToken` gets the
   * current value as `clientSecret`.
   */
  readonly clientSecret: SecretSource;
  /** Anything else that makes a token different: audience, scope, environment. */
  readonly variant?: string | undefined;
  /** Prefix for `tokens.client(id)`. */
  readonly apiBaseUrl?: string | undefined;
  /** Lifetime to assume when a response has no `expires_in`, in seconds. */
  readonly defaultExpiresInSeconds?: number | undefined;
  /** The API's rate limit per credential, `{ requests, perMs }`; `false` or absent: no pacing (docs/rate-limits.md). */
  readonly rateLimit?: RateLimit | false | undefined;
  /** One token round-trip with `context.clientSecret`; see {@link Provider.requestToken}. */
  requestToken(context: DefinedTokenRequestContext): Promise<TokenResponse>;
}

/**
 * Builds a {@link Provider} from a definition: computes the cache key (the secret hashed, never kept)
 * and shows only the public fields to `util.inspect` and `JSON.stringify`.
 *
 * @example
 * ```ts
 * const myBank = defineProvider({
 *   kind: 'my-bank', tokenUrl, clientId, clientSecret, // or secretFile(path), or () => vault.read(…)
 *   async requestToken({ signal, clientSecret }) {
 *     const response = await fetch(tokenUrl, { method: 'POST', signal, body: … });
 *     return { body: await response.json() };
 *   },
 * });
 * ```
 */
export function defineProvider(definition: ProviderDefinition): Provider {
  return new DefinedProvider(definition);
}

/**
 * The display methods every provider class of this package shares, once on the prototype: a broker may
 * hold tens of thousands of providers. Subclasses keep their secrets in private fields, which neither
 * `util.inspect`, `JSON.stringify`, `Object.keys` nor a spread can reach.
 */
export abstract class ProviderBase implements Provider {
  abstract readonly kind: string;
  abstract readonly apiBaseUrl: string | undefined;
  abstract readonly defaultExpiresInSeconds: number | undefined;
  abstract readonly rateLimit: RateLimit | undefined;
  // Private, so a frozen provider can still move to a new key when its secret source changes.
  #cacheKey: string;

  /** For subclasses. */
  protected constructor(cacheKey: string) {
    this.#cacheKey = cacheKey;
  }

  /** See {@link Provider.cacheKey}: changes only when a secret read from a source changes. */
  get cacheKey(): string {
    return this.#cacheKey;
  }

  /** For subclasses whose secret source changed. */
  protected rekey(cacheKey: string): void {
    this.#cacheKey = cacheKey;
  }

  abstract requestToken(context: TokenRequestContext): Promise<TokenResponse>;

  /** Only the public fields. */
  toJSON(): unknown {
    return { kind: this.kind, cacheKey: this.cacheKey, apiBaseUrl: this.apiBaseUrl };
  }

  /** Only the public fields. */
  [inspect.custom](): string {
    return `Provider ${inspect(this.toJSON())}`;
  }
}

/** A provider as `defineProvider` makes it. */
class DefinedProvider extends ProviderBase {
  readonly kind: string;
  readonly apiBaseUrl: string | undefined;
  readonly defaultExpiresInSeconds: number | undefined;
  readonly rateLimit: RateLimit | undefined;
  // Private: the secret (a value, or the reader of its function or file) and the definition's function.
  // One field for the secret either way: a broker may hold tens of thousands of these.
  readonly #clientSecret: string | RotatingSecret;
  readonly #requestToken: (context: DefinedTokenRequestContext) => Promise<TokenResponse>;

  constructor(definition: ProviderDefinition) {
    const source = parseOptions(secretSourceSchema(), definition.clientSecret, 'defineProvider.clientSecret');
    const secret = secretOf('defineProvider.clientSecret', source);
    const identity: CredentialIdentity = { kind: definition.kind, tokenUrl: definition.tokenUrl, clientId: definition.clientId, variant: definition.variant };
    super(credentialKeyOf(identity, typeof secret === 'string' ? secret : secret.value));
    this.kind = definition.kind;
    this.apiBaseUrl = definition.apiBaseUrl;
    this.defaultExpiresInSeconds = definition.defaultExpiresInSeconds;
    this.rateLimit = resolvedRateLimit(parseOptions(rateLimitSchema().optional(), definition.rateLimit, 'defineProvider.rateLimit'), undefined);
    this.#clientSecret = typeof secret === 'string' ? secret : { reader: secret, identity };
    this.#requestToken = definition.requestToken;
    Object.freeze(this);
  }

  /** Reads a function or file secret again; a changed secret moves the credential to its new cache key. */
  async readSecrets(report: (problem: string) => void): Promise<boolean> {
    const secret = this.#clientSecret;
    if (typeof secret === 'string') return false;
    const changed = await secret.reader.read(report);
    if (changed) this.rekey(credentialKeyOf(secret.identity, secret.reader.value));
    return changed;
  }

  async requestToken(context: TokenRequestContext): Promise<TokenResponse> {
    const secret = this.#clientSecret;
    if (typeof secret === 'string') return this.#requestToken({ ...context, clientSecret: secret });
    // The manager reads the source before each request; a caller of requestToken alone gets a first read here.
    if (secret.reader.value === undefined) await this.readSecrets(() => {});
    return this.#requestToken({ ...context, clientSecret: secret.reader.value! });
  }
}

/** What identifies a credential besides its secret. */
export interface CredentialIdentity {
  readonly kind: string;
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly variant: string | undefined;
}

/** A secret from a function or a file, with what its cache key is made of besides it. */
interface RotatingSecret {
  readonly reader: SecretReader;
  readonly identity: CredentialIdentity;
}

/**
 * The cache key of a credential whose secret may come from a source (the built-in providers and
 * `defineProvider`). A secret not read yet (a function, before its first call) gets a key no other
 * process can have, so nothing is shared under it before the secret is known.
 */
export function credentialKeyOf(identity: CredentialIdentity, clientSecret: string | undefined): string {
  return credentialKey({ ...identity, clientSecret: clientSecret ?? `unread:${randomUUID()}` });
}

/**
 * The call-budget key of a credential whose cache key {@link credentialKey} made: the key without its
 * secret's part. A provider limits calls per client, whatever secret got the token: across a rotation,
 * while tokens of both secrets are in use, their calls share one budget. Any other cache key (a provider
 * written without this module) is its own budget key.
 */
export function budgetKeyOf(cacheKey: string): string {
  // `kind:<22 characters>:<16 characters>`: the last part is the secret's hash (credentialKey, below).
  const length = cacheKey.length;
  return length > 40 && cacheKey.charCodeAt(length - 17) === COLON && cacheKey.charCodeAt(length - 40) === COLON ? cacheKey.slice(0, length - 17) : cacheKey;
}

const COLON = 58;

/** The cache key of a credential: readable where it may be, hashed where it must be. */
export function credentialKey(parts: { kind: string; tokenUrl: string; clientId: string; clientSecret: string; variant?: string | undefined }): string {
  // 12 bytes of SHA-256 tell rotated secrets apart without letting the key stand in for the secret.
  // Bytes are cut before encoding and the parts joined with join(): the key is one flat string,
  // not slices or a rope that keep larger strings alive (it is stored once per credential).
  const secretHash = createHash('sha256').update(parts.clientSecret).digest().subarray(0, 12).toString('base64url');
  const id = createHash('sha256')
    .update(JSON.stringify([parts.kind, parts.tokenUrl, parts.clientId, parts.variant ?? '']))
    .digest()
    .subarray(0, 16)
    .toString('base64url');
  return [parts.kind, id, secretHash].join(':');
}
