/**
 * Private keys for `private_key_jwt` (RFC 7523) and DPoP (RFC 9449): read once at construction into a
 * `KeyObject` (PEM, JWK or `KeyObject` in; the text form is not kept), the JWS algorithm that fits
 * it, its RFC 7638 thumbprint (part of the cache key: another key gets another token), and the
 * non-extractable WebCrypto keys openid-client signs with.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, webcrypto, type JsonWebKey } from 'node:crypto';

/** The JWS algorithms tokenbroker signs with. */
/** A JWS algorithm for `private_key_jwt` and DPoP: RS256/384/512, PS256/384/512, ES256/384/512 or EdDSA. */
export type SigningAlgorithm = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';

/** Every {@link SigningAlgorithm}, for validating the options. */
export const SIGNING_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const satisfies readonly SigningAlgorithm[];

/** A private key as the options take it: PEM (string or Buffer), a JWK, or a `KeyObject`. */
export type PrivateKeyInput = string | Buffer | webcrypto.JsonWebKey | KeyObject;

/** A key read from the options, with what signing with it needs. */
export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly algorithm: SigningAlgorithm;
  /** RFC 7638 JWK thumbprint of the public key (base64url SHA-256). */
  readonly thumbprint: string;
}

/** Reads a private key; the message of what it throws never quotes the key. */
export function readPrivateKey(input: PrivateKeyInput, algorithm: SigningAlgorithm | undefined): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey =
      input instanceof KeyObject
        ? input
        : typeof input === 'string' || Buffer.isBuffer(input)
          ? createPrivateKey(input)
          : createPrivateKey({ key: input as JsonWebKey, format: 'jwk' });
  } catch {
    throw new Error('is not a private key (PEM, JWK or KeyObject)');
  }
  if (privateKey.type !== 'private') throw new Error('is not a private key (PEM, JWK or KeyObject)');
  const fitting = algorithmsFor(privateKey);
  if (fitting.length === 0) throw new Error(`is a ${privateKey.asymmetricKeyType ?? 'unknown'} key; use an RSA, EC (P-256, P-384, P-521) or Ed25519 key`);
  if (algorithm !== undefined && !fitting.includes(algorithm)) {
    throw new Error(`does not fit algorithm ${algorithm} (this key signs ${fitting.join(', ')})`);
  }
  return { privateKey, algorithm: algorithm ?? fitting[0]!, thumbprint: thumbprintOf(privateKey) };
}

/** A new P-256 key for `dpop: true`. */
export function randomDpopKey(): SigningKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, algorithm: 'ES256', thumbprint: thumbprintOf(privateKey) };
}

function algorithmsFor(key: KeyObject): SigningAlgorithm[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'PS256', 'RS384', 'PS384', 'RS512', 'PS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return curve === 'prime256v1' ? ['ES256'] : curve === 'secp384r1' ? ['ES384'] : curve === 'secp521r1' ? ['ES512'] : [];
    }
    case 'ed25519':
      return ['EdDSA'];
    default:
      return [];
  }
}

/** RFC 7638: SHA-256 over the required public members in lexicographic order. */
function thumbprintOf(privateKey: KeyObject): string {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  const members =
    jwk.kty === 'RSA'
      ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
      : jwk.kty === 'EC'
        ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
        : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

function importParams(algorithm: SigningAlgorithm): webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | webcrypto.Algorithm {
  const hash = `SHA-${algorithm.slice(2)}`;
  switch (algorithm.slice(0, 2)) {
    case 'RS':
      return { name: 'RSASSA-PKCS1-v1_5', hash };
    case 'PS':
      return { name: 'RSA-PSS', hash };
    case 'ES':
      return { name: 'ECDSA', namedCurve: algorithm === 'ES256' ? 'P-256' : algorithm === 'ES384' ? 'P-384' : 'P-521' };
    default:
      return { name: 'Ed25519' };
  }
}

/** The private key as a non-extractable WebCrypto key, for openid-client's `PrivateKeyJwt`. */
export async function signingCryptoKey(key: SigningKey): Promise<webcrypto.CryptoKey> {
  const der = key.privateKey.export({ format: 'der', type: 'pkcs8' });
  return webcrypto.subtle.importKey('pkcs8', der, importParams(key.algorithm), false, ['sign']);
}

/** The key pair openid-client's DPoP handle wants: the public half must be extractable (it goes in the proof). */
export async function dpopKeyPair(key: SigningKey): Promise<webcrypto.CryptoKeyPair> {
  const spki = createPublicKey(key.privateKey).export({ format: 'der', type: 'spki' });
  const publicKey = await webcrypto.subtle.importKey('spki', spki, importParams(key.algorithm), true, ['verify']);
  return { privateKey: await signingCryptoKey(key), publicKey };
}
