/**
 * Certificates for the mutual TLS tests (test/helpers/certificates.ts), made fresh in a temporary
 * directory: a CA, a server certificate for 127.0.0.1, a CA-signed client certificate and a self-signed one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSigned, TestCertificateAuthority } from '../helpers/certificates.js';

/** A certificate authority, a server certificate for 127.0.0.1 and two client certificates, made with openssl. */
export interface TestCertificates {
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** Signed by the CA, subject `CN=tokenbroker-client` (tls_client_auth). */
  readonly clientCert: string;
  readonly clientKey: string;
  /** Self-signed (self_signed_tls_client_auth). */
  readonly selfSignedCert: string;
  readonly selfSignedKey: string;
}

/** Makes fresh certificates in a temporary directory (removed before returning). */
export function makeCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'tokenbroker-certs-'));
  try {
    const ca = new TestCertificateAuthority(dir);
    const server = ca.issue('server', '127.0.0.1', { ip: '127.0.0.1' });
    const client = ca.issue('client', 'tokenbroker-client');
    const self = selfSigned(dir, 'self', 'tokenbroker-self-signed');
    return {
      caCert: ca.cert,
      serverCert: server.cert,
      serverKey: server.key,
      clientCert: client.cert,
      clientKey: client.key,
      selfSignedCert: self.cert,
      selfSignedKey: self.key,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
