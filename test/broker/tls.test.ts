/**
 * TLS: the service listener on https, and consumers authenticated by client certificate (fingerprint
 * or subject CN, verified against tls.caFile) as an alternative to API keys. Certificates are made by
 * openssl for the test, on loopback.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveBrokerConfig } from '../../src/apps/broker/index.js';
import { TestCertificateAuthority } from '../helpers/certificates.js';
import { baseConfig, KEYS, startHarness, type BrokerHarness } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tokenbroker-tls-'));
const file = (name: string) => join(dir, name);
let h: BrokerHarness;
let clientFingerprint: string;

beforeAll(async () => {
  const ca = new TestCertificateAuthority(dir, 'ca', 'ca');
  const otherCa = new TestCertificateAuthority(dir, 'other-ca', 'other-ca');
  ca.issue('server', '127.0.0.1', { ip: '127.0.0.1' });
  ca.issue('client', 'billing-service');
  ca.issue('subject-client', 'payouts-service');
  otherCa.issue('stranger', 'billing-service');
  clientFingerprint = new X509Certificate(readFileSync(file('client.crt'))).fingerprint256;
  h = await startHarness({
    config: (emulator) => {
      const config = baseConfig(emulator);
      return {
        ...config,
        tls: { certFile: file('server.crt'), keyFile: file('server.key'), caFile: file('ca.crt') },
        consumers: [
          ...config.consumers,
          { name: 'billing-cert', certFingerprint256: clientFingerprint.toLowerCase(), providers: ['ap'] },
          { name: 'payouts-cert', certSubject: 'payouts-service', providers: ['autopay'] },
        ],
      };
    },
  });
});
afterAll(async () => h?.close());

function get(path: string, options: { key?: string; cert?: string } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${h.url}${path}`,
      {
        ca: readFileSync(file('ca.crt')),
        ...(options.cert === undefined ? {} : { cert: readFileSync(file(`${options.cert}.crt`)), key: readFileSync(file(`${options.cert}.key`)) }),
        headers: options.key === undefined ? {} : { authorization: `Bearer ${options.key}` },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('tls', () => {
  it('serves https; API-key consumers work without a client certificate', async () => {
    expect(h.url).toMatch(/^https:\/\/127\.0\.0\.1:/);
    expect((await get('/v1/tokens/ap', { key: KEYS.billing })).status).toBe(200);
  });

  it('a client certificate signed by the CA authenticates its consumer, by fingerprint or by subject', async () => {
    const byFingerprint = await get('/v1/tokens/ap', { cert: 'client' });
    expect(byFingerprint.status).toBe(200);
    expect((await get('/v1/tokens/autopay', { cert: 'client' })).body).toMatchObject({ error: { code: 'provider_not_allowed' } });
    expect((await get('/v1/tokens/autopay', { cert: 'subject-client' })).status).toBe(200);
    const audit = h.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.type === 'audit' && line.consumer === 'billing-cert');
    expect(audit[0]).toMatchObject({ keyId: `cert:${clientFingerprint.replaceAll(':', '').slice(0, 8).toLowerCase()}`, outcome: 'issued' });
  });

  it('a certificate from another CA, with the same subject, authenticates nobody', async () => {
    expect((await get('/v1/tokens/ap', { cert: 'stranger' })).body).toMatchObject({ error: { code: 'unauthenticated' } });
  });

  it('config: certificate consumers need tls.caFile; unreadable files are named, never quoted', () => {
    const base = baseConfig(h.emulator);
    const issues = (config: unknown): string[] => {
      try {
        resolveBrokerConfig(config, { env: { AP_SECRET: 'a', AUTOPAY_SECRET: 'b', WRONG_SECRET: 'c' } });
        return [];
      } catch (error) {
        return (error as { issues: Array<{ path: string; message: string }> }).issues.map((i) => `${i.path}: ${i.message}`);
      }
    };
    expect(issues({ ...base, consumers: [{ name: 'c', certSubject: 'x', providers: ['ap'] }] })).toEqual([
      'consumers[0].certSubject: needs tls.caFile: client certificates are verified against it',
    ]);
    expect(issues({ ...base, tls: { certFile: file('server.crt'), keyFile: file('missing.key') } })).toEqual([
      expect.stringMatching(/^tls\.keyFile: cannot read .*missing\.key \(ENOENT\)$/),
    ]);
    expect(issues({ ...base, consumers: [{ name: 'c', providers: ['ap'] }] })).toEqual([expect.stringContaining('consumers[0].keySha256: is required')]);
  });
});
