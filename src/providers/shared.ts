/**
 * Small pieces the built-in providers share: scrubbers that know every form a secret can take on the
 * wire, and the credential-refusal error. Not exported from the package.
 */
import { InvalidCredentialsError } from '../errors.js';
import { oauthErrorCode, type TokenHttpResponse } from '../http.js';
import { scrubberFor } from '../redact.js';

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
  return new InvalidCredentialsError(
    `${providerName} refused the client credentials (HTTP ${response.status})${quoted}`,
    { status: response.status, providerCode },
  );
}
