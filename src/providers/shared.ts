/**
 * Small pieces the built-in providers share: scrubbers that know every form a secret can take on the
 * wire, and the credential-refusal error. Not exported from the package.
 */
import { InvalidCredentialsError } from '../base/errors.js';
import { credentialKeyOf, ProviderBase, type RateLimit, type TokenRequestContext } from './provider.js';
import type { TokenResponse } from '../base/token.js';
import { oauthErrorCode, type TokenHttpResponse } from '../base/http.js';
import { scrubberFor } from '../base/redact.js';
import type { SecretReader } from './secret-source.js';

/**
 * A scrubber for one credential. `scrub` already removes a secret verbatim, URL-encoded
 * (`encodeURIComponent`) and in Base64; a server that echoes a request back can also show it
 * form-encoded (`URLSearchParams`, RFC 6749 §2.3.1), JSON-escaped, or inside the Base64 of the whole
 * `id:secret` Basic credential, so those forms are added here.
 */
export function credentialScrubber(clientSecret: string, basicCredentials: readonly string[] = []): (text: string) => string {
  const forms = new Set<string>([
    clientSecret,
    new URLSearchParams({ s: clientSecret }).toString().slice(2),
    formUrlEncode(clientSecret),
    JSON.stringify(clientSecret).slice(1, -1),
  ]);
  for (const credentials of basicCredentials) forms.add(Buffer.from(credentials).toString('base64'));
  return scrubberFor([...forms].filter((form) => form.length > 0));
}

/** RFC 6749 Appendix B encoding, as openid-client applies it to Basic credentials. */
export function formUrlEncode(value: string): string {
  return encodeURIComponent(value)
    .replace(/%20/g, '+')
    .replace(/[-_.!~*'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * One shared copy of a provider's wire settings per distinct value, so that ten thousand credentials of
 * one environment hold one endpoint object, not ten thousand. Bounded: past `max` distinct settings
 * (a misuse, not a deployment) new ones are simply not shared.
 */
export class Interned<T> {
  readonly #values = new Map<string, T>();
  readonly #max: number;

  constructor(max = 64) {
    this.#max = max;
  }

  /** The shared value for `key`, made by `make` the first time. */
  get(key: string, make: () => T): T {
    const known = this.#values.get(key);
    if (known !== undefined) return known;
    const value = make();
    if (this.#values.size < this.#max) this.#values.set(key, value);
    return value;
  }
}

/** The wire settings of a built-in provider, shared by every credential that has the same ones. */
export interface Endpoint {
  /** The provider kind, e.g. `alternative-payments`. */
  readonly kind: string;
  /** Lifetime to assume when a response has no `expires_in`, in seconds. */
  readonly defaultExpiresInSeconds: number;
  readonly tokenUrl: string;
  readonly apiBaseUrl: string;
  /** What else makes a token different (environment, audience): part of the cache key. */
  readonly variant: string;
  /** The API's rate limit per credential, if paced. */
  readonly rateLimit?: RateLimit | undefined;
}

/**
 * A built-in provider's credential: its client id and secret in private fields (out of reach of
 * `util.inspect`, `JSON.stringify`, `Object.keys` and spreads), its endpoint shared. Subclasses name the
 * kind and send the request; the secret reaches them only as an argument of {@link send}.
 *
 * A secret given as a value is kept as it is (no extra object per credential); one from a function or
 * a file is a {@link SecretReader}, read again by {@link readSecrets}, and the cache key follows it.
 */
export abstract class EndpointCredential<E extends Endpoint> extends ProviderBase {
  readonly #clientId: string;
  readonly #clientSecret: string | SecretReader;
  readonly #endpoint: E;

  /** Subclasses add no fields: the instance is frozen here. */
  constructor(clientId: string, clientSecret: string | SecretReader, endpoint: E) {
    super(endpointKey(endpoint, clientId, typeof clientSecret === 'string' ? clientSecret : clientSecret.value));
    this.#clientId = clientId;
    this.#clientSecret = clientSecret;
    this.#endpoint = endpoint;
    Object.freeze(this);
  }

  /** Reads a function or file secret again; a changed secret moves the credential to its new cache key. */
  async readSecrets(report: (problem: string) => void): Promise<boolean> {
    const secret = this.#clientSecret;
    if (typeof secret === 'string') return false;
    const changed = await secret.read(report);
    if (changed) this.rekey(endpointKey(this.#endpoint, this.#clientId, secret.value));
    return changed;
  }

  get kind(): string {
    return this.#endpoint.kind;
  }

  get apiBaseUrl(): string {
    return this.#endpoint.apiBaseUrl;
  }

  get defaultExpiresInSeconds(): number {
    return this.#endpoint.defaultExpiresInSeconds;
  }

  get rateLimit(): RateLimit | undefined {
    return this.#endpoint.rateLimit;
  }

  async requestToken(context: TokenRequestContext): Promise<TokenResponse> {
    const secret = this.#clientSecret;
    if (typeof secret === 'string') return this.send(context, this.#clientId, secret, this.#endpoint);
    // The manager reads the source before each request; a caller of requestToken alone gets a first read here.
    if (secret.value === undefined) await this.readSecrets(() => {});
    return this.send(context, this.#clientId, secret.value!, this.#endpoint);
  }

  /** One token round-trip in the provider's wire format. */
  protected abstract send(context: TokenRequestContext, clientId: string, clientSecret: string, endpoint: E): Promise<TokenResponse>;
}

/** The cache key of an endpoint credential (a secret not read yet: see credentialKeyOf). */
function endpointKey(endpoint: Endpoint, clientId: string, clientSecret: string | undefined): string {
  return credentialKeyOf({ kind: endpoint.kind, tokenUrl: endpoint.tokenUrl, clientId, variant: endpoint.variant }, clientSecret);
}

/** `https://host/prefix/` → `https://host/prefix`, so paths can be appended with one slash. */
export function withoutTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/** The refusal of a client id or secret, quoting the provider's (scrubbed, truncated) answer. */
export function credentialsRefused(
  providerName: string,
  response: TokenHttpResponse,
  scrub: (text: string) => string,
  providerCode = oauthErrorCode(response.json),
): InvalidCredentialsError {
  const quoted = response.text.length > 0 ? `: ${scrub(response.text)}` : '';
  return new InvalidCredentialsError(`${providerName} refused the client credentials (HTTP ${response.status})${quoted}`, {
    status: response.status,
    providerCode,
  });
}
