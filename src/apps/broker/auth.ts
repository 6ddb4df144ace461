/**
 * Consumer authentication: API keys, of which the broker knows only SHA-256 digests.
 *
 * The presented key is hashed once, then compared with every digest of every consumer in constant time
 * (`timingSafeEqual` over equal-length digests), without stopping at a match: how long it takes says
 * nothing about which consumer matched or how close a guess was. Hashing first also makes every
 * comparison the same length whatever the key's length.
 */
import { createHash, hash, timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Consumer } from './config.js';

/** The API key a request presents: `Authorization: Bearer <key>`, else `x-api-key: <key>`. */
export function presentedKey(authorization: string | undefined, apiKey: string | string[] | undefined): string | undefined {
  if (authorization !== undefined) {
    // RFC 7235: the scheme is case-insensitive; one or more spaces before the credentials.
    const match = /^bearer +(\S+) *$/i.exec(authorization);
    return match === null ? undefined : match[1];
  }
  if (typeof apiKey === 'string' && apiKey !== '') return apiKey;
  return undefined;
}

/** Who a key belongs to, and the key's id (the first 8 hex digits of its SHA-256) for the audit log. */
export interface Authentication {
  readonly consumer: Consumer | undefined;
  readonly keyId: string;
}

/** Finds the consumer one of whose key digests matches `key`, comparing against every digest. */
export function authenticate(consumers: readonly Consumer[], key: string): Authentication {
  const digest = hash('sha256', key, 'buffer');
  let found: Consumer | undefined;
  for (const consumer of consumers) {
    for (const candidate of consumer.digests) {
      // Evaluated for every digest; the assignment is the only branch, and it does not end the loop.
      if (timingSafeEqual(digest, candidate)) found = consumer;
    }
  }
  return { consumer: found, keyId: digest.toString('hex', 0, 4) };
}

/**
 * The consumer a verified client certificate belongs to (by SHA-256 fingerprint, else subject CN), or
 * undefined: no certificate, one the CA did not sign, or one no consumer names. Its key id is
 * `cert:` and the first 8 hex digits of the fingerprint.
 */
export function authenticateCertificate(consumers: readonly Consumer[], socket: TLSSocket): Authentication | undefined {
  if (!socket.authorized) return undefined;
  const certificate = socket.getPeerCertificate();
  const fingerprint = certificate.fingerprint256;
  if (typeof fingerprint !== 'string' || fingerprint === '') return undefined;
  const subject = certificate.subject?.CN;
  const consumer =
    consumers.find((c) => c.certFingerprint256 === fingerprint) ??
    (typeof subject === 'string' ? consumers.find((c) => c.certSubject !== undefined && c.certSubject === subject) : undefined);
  return consumer === undefined ? undefined : { consumer, keyId: `cert:${fingerprint.replaceAll(':', '').slice(0, 8).toLowerCase()}` };
}

/**
 * The SHA-256 of a key, hex: what goes in a consumer's `keySha256`. The key is taken as given; strip a
 * trailing newline before calling (`tokenbroker hash-key` does).
 */
export function keyDigest(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}
