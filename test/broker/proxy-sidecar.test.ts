/**
 * The sidecar shape: the broker on a unix socket beside one service, whose requests carry no key (an
 * anonymous consumer, proxy only); and the config rules that keep that shape from being exposed.
 * Also: a broker without @fastify/reply-from says so in one line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { keyDigest } from '../../src/apps/broker/index.js';
import { resolveBrokerConfig } from '../../src/apps/broker/config.js';
import { loadReplyFrom, MISSING_LIBRARY_MESSAGE } from '../../src/apps/broker/proxy/library.js';
import { ConfigError } from '../../src/base/errors.js';
import { baseConfig, ENV, KEYS, startHarness, type BrokerHarness } from './helpers.js';

function overSocket(socketPath: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath, path, headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('broker proxy: sidecar', () => {
  let harness: BrokerHarness | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('listens on a unix socket; a request without a key is the anonymous consumer, served through the proxy only', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tb-sidecar-'));
    const socketPath = join(dir, 'broker.sock');
    harness = await startHarness({
      config: (emulator) => ({
        ...baseConfig(emulator),
        listen: { path: socketPath },
        consumers: [{ name: 'app', anonymous: true, providers: ['ap'] }],
      }),
    });
    const customers = await overSocket(socketPath, '/v1/proxy/ap/customers');
    expect(customers.status).toBe(200);
    expect(JSON.parse(customers.body)).toMatchObject({ data: expect.any(Array) });
    const raw = await overSocket(socketPath, '/v1/tokens/ap');
    expect(raw.status).toBe(403);
    expect(raw.body).toContain('proxy_only');
    // A key that is presented must be right: a wrong one is not quietly taken as anonymous.
    const wrong = await overSocket(socketPath, '/v1/proxy/ap/customers', { 'x-api-key': 'tbk_wrong' });
    expect(wrong.status).toBe(401);
    expect(harness.logs.join('\n')).toMatch(/"type":"proxy".*"consumer":"app".*"keyId":"anonymous"/);
    // A unix socket has no client address: every audit line is still JSON, its ip null.
    const audit = harness.logs
      .join('')
      .split('\n')
      .filter((line) => line.includes('"type":"proxy"') || line.includes('"type":"audit"'));
    expect(audit.length).toBeGreaterThanOrEqual(3);
    for (const line of audit) expect((JSON.parse(line) as { ip: unknown }).ip).toBeNull();
  });
});

describe('broker proxy: config rules', () => {
  const emulatorLike = {
    alternativePaymentsBaseUrl: 'http://127.0.0.1:9/ap',
    autopayTokenUrl: 'http://127.0.0.1:9/t',
    autopayApiBaseUrl: 'http://127.0.0.1:9/a',
  };
  const issues = (config: unknown): string[] => {
    try {
      resolveBrokerConfig(config, { env: ENV });
    } catch (error) {
      if (error instanceof ConfigError) return error.issues.map((issue) => `${issue.path}: ${issue.message}`);
      throw error;
    }
    return [];
  };
  const base = baseConfig(emulatorLike as never);

  it('an anonymous consumer needs a unix socket or a loopback listener, and there is at most one', () => {
    expect(issues({ ...base, listen: { host: '0.0.0.0', port: 8080 }, consumers: [{ name: 'app', anonymous: true, providers: ['ap'] }] })).toEqual([
      expect.stringMatching(/^consumers\[0\]\.anonymous: needs listen\.path .*loopback/),
    ]);
    expect(issues({ ...base, listen: { host: '::1', port: 8080 }, consumers: [{ name: 'app', anonymous: true, providers: ['ap'] }] })).toEqual([]);
    expect(
      issues({
        ...base,
        consumers: [
          { name: 'a', anonymous: true, providers: ['ap'] },
          { name: 'b', anonymous: true, providers: ['ap'] },
        ],
      }),
    ).toEqual([expect.stringMatching(/^consumers\[1\]\.anonymous: only one/)]);
    expect(issues({ ...base, consumers: [{ name: 'a', anonymous: true, keySha256: keyDigest(KEYS.billing), providers: ['ap'] }] })).toEqual([
      expect.stringMatching(/^consumers\[0\]\.anonymous: an anonymous consumer has no keySha256/),
    ]);
  });

  it('listen takes a path or host and port; allow rules name the consumer’s providers, methods and clean prefixes', () => {
    expect(issues({ ...base, listen: { path: '/tmp/x.sock', port: 1 } })).toEqual([expect.stringMatching(/^listen: give either path or host and port/)]);
    const consumer = { name: 'c', keySha256: keyDigest(KEYS.billing), providers: ['ap'] };
    expect(
      issues({
        ...base,
        consumers: [
          {
            ...consumer,
            allow: [{ provider: 'ap', methods: ['FETCH'], paths: ['customers', '/a/../b', '/%2e'] }],
          },
        ],
      }),
    ).toEqual([
      expect.stringMatching(/^consumers\[0\]\.allow\[0\]\.methods\[0\]: must be one of "GET"/),
      expect.stringMatching(/^consumers\[0\]\.allow\[0\]\.paths\[0\]: must start with \//),
      expect.stringMatching(/^consumers\[0\]\.allow\[0\]\.paths\[1\]: must not hold \. or \.\. segments/),
      expect.stringMatching(/^consumers\[0\]\.allow\[0\]\.paths\[2\]: must start with \//),
    ]);
    expect(issues({ ...base, consumers: [{ ...consumer, allow: [{ provider: 'autopay', paths: ['/x'] }] }] })).toEqual([
      expect.stringMatching(/^consumers\[0\]\.allow\[0\]\.provider: names a provider that is not in this consumer's "providers"/),
    ]);
    expect(issues({ ...base, proxy: { maxBodyBytes: -1, retries: 3 } })).toEqual([
      'proxy.maxBodyBytes: must be at least 0',
      'proxy: has unknown field retries',
    ]);
  });
});

describe('broker proxy: the library is an optional peer', () => {
  it('missing, it is one line naming the fix; any other failure is thrown', async () => {
    const missing = Object.assign(new Error("Cannot find package '@fastify/reply-from' imported from /x.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    await expect(loadReplyFrom(() => Promise.reject(missing))).resolves.toBeUndefined();
    expect(MISSING_LIBRARY_MESSAGE).toBe('The proxy needs the optional peer dependency @fastify/reply-from: npm install @fastify/reply-from');
    await expect(loadReplyFrom(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });
});
