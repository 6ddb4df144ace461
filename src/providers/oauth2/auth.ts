/**
 * Client authentication at the token endpoint (RFC 6749 §2.3, RFC 7523, RFC 8705): which method a
 * request uses, and the openid-client `ClientAuth` that applies it.
 *
 * `client_secret_basic` is encoded here, not by openid-client: openid-client percent-encodes even
 * `- _ . ~`, which servers that do not decode Basic credentials (as RFC 6749 §2.3.1 asks) refuse.
 * Like Go's `url.QueryEscape`, unreserved characters stay as they are and a space becomes `+`.
 */
import type { webcrypto } from 'node:crypto';
import type { ClientAuth, ServerMetadata } from 'openid-client';
import type { OpenIdClient } from './library.js';
import { signingCryptoKey } from './keys.js';
import type { CredentialSettings, OAuth2AuthMethod, SharedSettings } from './options.js';
import { learntMethod } from './profile.js';

/** A method that is actually sent ('auto' resolved). */
export type WireAuthMethod = Exclude<OAuth2AuthMethod, 'auto'>;

/** RFC 6749 Appendix B as servers that skip decoding still accept it (Go's url.QueryEscape). */
export function queryEscape(value: string): string {
  return encodeURIComponent(value)
    .replace(/%20/g, '+')
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The `id:secret` pair inside a Basic header, as sent. */
export function basicCredentials(clientId: string, clientSecret: string): string {
  return `${queryEscape(clientId)}:${queryEscape(clientSecret)}`;
}

/** Preference among the secret methods when the server lists what it supports. */
const SECRET_PREFERENCE: readonly WireAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt'];

/**
 * The method of the next request, and whether a refusal may be answered by trying `client_secret_post`
 * once (only for `'auto'` with nothing known about the server).
 */
export function chooseMethod(shared: SharedSettings, metadata: ServerMetadata): { method: WireAuthMethod; mayFallBack: boolean } {
  if (shared.authMethod !== 'auto') return { method: shared.authMethod, mayFallBack: false };
  const supported = metadata.token_endpoint_auth_methods_supported;
  if (Array.isArray(supported) && supported.length > 0) {
    const method = SECRET_PREFERENCE.find((candidate) => supported.includes(candidate));
    if (method !== undefined) return { method, mayFallBack: false };
  }
  const known = learntMethod(metadata.token_endpoint ?? '');
  return known !== undefined ? { method: known, mayFallBack: false } : { method: 'client_secret_basic', mayFallBack: true };
}

/** The CryptoKey of a credential's `private_key_jwt` key, imported once per key. */
const cryptoKeys = new WeakMap<object, Promise<webcrypto.CryptoKey>>();

/** openid-client's ClientAuth for one request. */
export async function clientAuthFor(lib: OpenIdClient, method: WireAuthMethod, credential: CredentialSettings): Promise<ClientAuth> {
  const secret = credential.clientSecret ?? '';
  switch (method) {
    case 'client_secret_basic':
      return (_as, client, _body, headers) => {
        headers.set('authorization', `Basic ${Buffer.from(basicCredentials(client.client_id, secret)).toString('base64')}`);
      };
    case 'client_secret_post':
      return lib.ClientSecretPost(secret);
    case 'client_secret_jwt':
      return lib.ClientSecretJwt(secret);
    case 'private_key_jwt': {
      const key = credential.signingKey!;
      let cryptoKey = cryptoKeys.get(key);
      if (cryptoKey === undefined) {
        cryptoKey = signingCryptoKey(key);
        cryptoKeys.set(key, cryptoKey);
      }
      const privateKey = await cryptoKey;
      return lib.PrivateKeyJwt(credential.keyId === undefined ? privateKey : { key: privateKey, kid: credential.keyId });
    }
    case 'tls_client_auth':
    case 'self_signed_tls_client_auth':
      return lib.TlsClientAuth();
  }
}
