/**
 * Certificates for the mutual TLS tests, made fresh with Debian's openssl in a temporary directory:
 * a CA, a server certificate for 127.0.0.1, a CA-signed client certificate and a self-signed one.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const sign = (name: string, extensions?: string) => {
    if (extensions !== undefined) writeFileSync(join(dir, `${name}.ext`), `${extensions}\n`);
    run(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      ...(extensions === undefined ? [] : ['-extfile', `${name}.ext`]),
    );
  };
  try {
    run('req', '-x509', ...ec, '-subj', '/CN=tokenbroker-test-ca', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2');
    run('req', ...ec, '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr');
    sign('server', 'subjectAltName=IP:127.0.0.1');
    run('req', ...ec, '-subj', '/CN=tokenbroker-client', '-keyout', 'client.key', '-out', 'client.csr');
    sign('client');
    run('req', '-x509', ...ec, '-subj', '/CN=tokenbroker-self-signed', '-keyout', 'self.key', '-out', 'self.crt', '-days', '2');
    const file = (name: string) => readFileSync(join(dir, name), 'utf8');
    return {
      caCert: file('ca.crt'),
      serverCert: file('server.crt'),
      serverKey: file('server.key'),
      clientCert: file('client.crt'),
      clientKey: file('client.key'),
      selfSignedCert: file('self.crt'),
      selfSignedKey: file('self.key'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
