/**
 * `{ url }` connections beyond the plain one (issue 13 item 2): an ACL user and password in the URL, and
 * `rediss://` (TLS) with a private certificate authority, against real redis-server processes on loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStore } from '../../src/stores/redis/index.js';
import { hasOpenssl, TestCertificateAuthority } from '../helpers/certificates.js';
import { sampleToken } from '../stores/conformance.js';
import { freePort, redisServerBinary, skipWithoutRedis } from './redis-server.js';

const skip = skipWithoutRedis('test/redis/url-connection.test.ts');
if (!skip && !hasOpenssl) console.warn('[test/redis/url-connection.test.ts] TLS test SKIPPED: openssl is not on PATH (it makes the test certificates).');

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

async function startServer(args: string[]): Promise<void> {
  const child = spawn(redisServerBinary!, ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${output.slice(-500)}`)), 10_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${String(code)}: ${output.slice(-500)}`)));
  });
  child.stderr!.resume();
}

const PASSWORD = 'acl-pa55word-Zq8';

describe.skipIf(skip)('redisStore({ url }) with an ACL user, and with TLS', () => {
  let dir: string;
  let aclPort: number;
  let tlsPort: number;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tokenbroker-url-'));
    aclPort = await freePort();
    await startServer(['--port', String(aclPort), '--user', 'default', 'off', '--user', 'app', 'on', `>${PASSWORD}`, '~*', '&*', '+@all']);
    if (hasOpenssl) {
      const ca = new TestCertificateAuthority(dir, 'ca', 'tokenbroker test CA');
      ca.issue('server', '127.0.0.1', { ip: '127.0.0.1' });
      tlsPort = await freePort();
      await startServer([
        '--port',
        '0',
        '--tls-port',
        String(tlsPort),
        '--tls-cert-file',
        join(dir, 'server.crt'),
        '--tls-key-file',
        join(dir, 'server.key'),
        '--tls-ca-cert-file',
        join(dir, 'ca.crt'),
        '--tls-auth-clients',
        'no',
      ]);
    }
  }, 30_000);
  afterAll(async () => {
    await Promise.all(
      [...children].map(async (child) => {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  });

  it('an ACL user and password in the URL: works; a wrong password fails fast and is never quoted', async () => {
    const store = redisStore({ url: `redis://app:${PASSWORD}@127.0.0.1:${aclPort}`, keyPrefix: 'acl:' });
    const warnings: unknown[] = [];
    const wrong = redisStore({
      url: `redis://app:not-the-pa55@127.0.0.1:${aclPort}`,
      commandTimeoutMs: 300,
      logger: { warn: (object: unknown, message: string) => warnings.push({ object, message }) },
    });
    try {
      const token = sampleToken();
      await store.set('k', token, 60_000);
      expect((await store.get('k'))?.accessToken).toBe(token.accessToken);
      const started = Date.now();
      const error = await wrong.get('k').then(
        () => undefined,
        (caught: unknown) => caught as Error,
      );
      expect(error).toBeInstanceOf(Error);
      expect(Date.now() - started).toBeLessThan(1_500);
      const shown = `${error?.message} ${JSON.stringify(warnings)} ${JSON.stringify(store)} ${JSON.stringify(wrong)}`;
      expect(shown).not.toContain(PASSWORD);
      expect(shown).not.toContain('not-the-pa55');
    } finally {
      await Promise.all([store.close(), wrong.close()]);
    }
  });

  it.skipIf(!hasOpenssl)('rediss:// with the private CA in `tls`: works; without it the certificate is refused', async () => {
    const ca = readFileSync(join(dir, 'ca.crt'));
    const store = redisStore({ url: `rediss://127.0.0.1:${tlsPort}`, tls: { ca }, keyPrefix: 'tls:' });
    const untrusted = redisStore({ url: `rediss://127.0.0.1:${tlsPort}`, commandTimeoutMs: 500 });
    try {
      const token = sampleToken();
      await store.set('k', token, 60_000);
      expect((await store.get('k'))?.accessToken).toBe(token.accessToken);
      await expect(untrusted.get('k')).rejects.toThrow();
    } finally {
      await Promise.all([store.close(), untrusted.close()]);
    }
  });

  it('`tls` only with a rediss:// URL', () => {
    expect(() => redisStore({ url: 'redis://127.0.0.1:6379', tls: {} })).toThrow('redisStore.tls: needs a rediss:// URL');
  });
});
