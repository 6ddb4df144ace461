/**
 * Test certificates made with Debian's openssl in a directory the caller owns: a CA, certificates it
 * signs (a server certificate for 127.0.0.1, client certificates) and self-signed ones. EC P-256 keys,
 * valid two days. Every TLS test (broker, Redis, oauth2 mutual TLS, the secrets sweep) makes its own.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** True when openssl is on PATH (.ci/run installs it; tests that need it say so and skip otherwise). */
export const hasOpenssl = spawnSync('sh', ['-c', 'command -v openssl']).status === 0;

/** One certificate with its key: the PEM texts and the files they are in. */
export interface TestCertificate {
  readonly cert: string;
  readonly key: string;
  readonly certFile: string;
  readonly keyFile: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

function read(dir: string, name: string): TestCertificate {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile };
}

/** A self-signed certificate `<name>.crt`/`<name>.key` in `dir`, subject `CN=<cn>`. */
export function selfSigned(dir: string, name: string, cn: string): TestCertificate {
  openssl(dir, 'req', '-x509', ...EC_KEY, '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2');
  return read(dir, name);
}

/** A certificate authority in `dir` (files `<name>.crt`, `<name>.key`) that signs certificates beside it. */
export class TestCertificateAuthority implements TestCertificate {
  readonly cert: string;
  readonly key: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly #dir: string;
  readonly #name: string;

  constructor(dir: string, name = 'ca', cn = 'tokenbroker-test-ca') {
    const made = selfSigned(dir, name, cn);
    this.cert = made.cert;
    this.key = made.key;
    this.certFile = made.certFile;
    this.keyFile = made.keyFile;
    this.#dir = dir;
    this.#name = name;
  }

  /** A certificate `<name>.crt`/`<name>.key` for `CN=<cn>`, signed by this CA; `ip` adds it as subjectAltName (a server). */
  issue(name: string, cn: string, options: { readonly ip?: string } = {}): TestCertificate {
    const dir = this.#dir;
    openssl(dir, 'req', ...EC_KEY, '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    const extensions: string[] = [];
    if (options.ip !== undefined) {
      writeFileSync(join(dir, `${name}.ext`), `subjectAltName=IP:${options.ip}\n`);
      extensions.push('-extfile', `${name}.ext`);
    }
    openssl(
      dir,
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${this.#name}.crt`,
      '-CAkey',
      `${this.#name}.key`,
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      ...extensions,
    );
    return read(dir, name);
  }
}
