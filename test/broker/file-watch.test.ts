/**
 * Issue 22, acceptance: the broker applies the files its config names without SIGHUP.
 * - `clientSecretFile`: the secret rotated at the emulator (no grace) and, a second later, in the file,
 *   under continuous consumer traffic with tokens of 10 s → every consumer request is answered 200; the
 *   audit log records "secret source changed" for the provider (never a value) within 2 s; an empty
 *   file keeps the last good value and is warned about once.
 * - its own TLS certificate, in a Kubernetes-style volume (`..data` symlink swap): a new connection
 *   sees the new certificate within 2 s; an open keep-alive connection keeps working.
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCertificateAuthority, hasOpenssl } from '../helpers/certificates.js';
import { rotateBeforeNextRefresh } from '../secret-sources/rotation-helpers.js';
import { AP_CLIENT, baseConfig, bearer, KEYS, startHarness, type BrokerHarness } from './helpers.js';

const NEW_SECRET = 'Broker+Rotated/=%-22-f00d';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const lines = (h: BrokerHarness) => h.logs.map((line) => JSON.parse(line) as Record<string, unknown>);

describe('the broker watches clientSecretFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tb-broker-secret-'));
  const secretPath = join(dir, 'ap-secret');
  let h: BrokerHarness;
  beforeAll(async () => {
    writeFileSync(secretPath, `${AP_CLIENT.clientSecret}\n`);
    h = await startHarness({
      emulator: { tokenLifetimeSeconds: { alternativePayments: 10 } },
      config: (emulator) => {
        const config = baseConfig(emulator);
        return {
          ...config,
          providers: {
            ap: { type: 'alternative-payments', clientId: AP_CLIENT.clientId, clientSecretFile: secretPath, baseUrl: emulator.alternativePaymentsBaseUrl },
          },
          consumers: [{ name: 'billing', keySha256: config.consumers[0]!.keySha256, providers: ['ap'] }],
        };
      },
    });
  });
  afterAll(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a rotation (emulator, then the file 1 s later) costs consumers no error, without SIGHUP; the audit log says so', { timeout: 60_000 }, async () => {
    const statuses = new Map<number, number>();
    let running = true;
    const consumers = Array.from({ length: 3 }, async () => {
      while (running) {
        const answer = await h.get('/v1/tokens/ap', bearer(KEYS.billing));
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        await sleep(5);
      }
    });
    let writtenAt = 0;
    await rotateBeforeNextRefresh(h.emulator, AP_CLIENT.clientId, NEW_SECRET, () => {
      writeFileSync(`${secretPath}.new`, `${NEW_SECRET}\n`);
      renameSync(`${secretPath}.new`, secretPath);
      writtenAt = Date.now();
    });
    await sleep(12_000);
    running = false;
    await Promise.all(consumers);
    const changed = lines(h).filter((line) => line.type === 'audit' && line.event === 'secret_source_changed');
    const refused = h.emulator.stats().providers['alternative-payments'].clients[AP_CLIENT.clientId]!.tokenRequestsRejected.invalid_credentials;
    console.info(
      `[broker, clientSecretFile rotation] consumer answers ${JSON.stringify(Object.fromEntries(statuses))}; refused token requests ${refused}; ` +
        `audit "secret source changed" after ${Number(changed[0]?.time) - writtenAt} ms`,
    );
    expect([...statuses.keys()]).toEqual([200]);
    expect(refused).toBeLessThanOrEqual(1);
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatchObject({ provider: 'ap' });
    expect(Number(changed[0]!.time) - writtenAt).toBeLessThan(2_000);
    expect(h.logs.join('\n')).not.toContain(NEW_SECRET);
  });

  it('an empty file keeps the last good value, with one warning per change', async () => {
    writeFileSync(secretPath, '');
    await sleep(1_600);
    expect((await h.get('/v1/tokens/ap', bearer(KEYS.billing))).status).toBe(200);
    const warnings = lines(h).filter((line) => line.msg === 'secret file unreadable or empty; the provider keeps the last good value');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ provider: 'ap', problem: 'is empty' });
    writeFileSync(secretPath, `${NEW_SECRET}\n`);
    await sleep(1_000);
    // The same secret as before the empty moment: no change to audit.
    expect(lines(h).filter((line) => line.event === 'secret_source_changed')).toHaveLength(1);
  });
});

describe.skipIf(!hasOpenssl)('the broker watches its own TLS certificate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tb-broker-tls-watch-'));
  const volume = join(dir, 'volume');
  let h: BrokerHarness;
  let ca: TestCertificateAuthority;

  /** Publishes `<name>.crt/.key` as the volume's tls.crt/tls.key, swapping `..data` as the kubelet does. */
  function publish(name: string, version: string): void {
    mkdirSync(join(volume, version));
    copyFileSync(join(dir, `${name}.crt`), join(volume, version, 'tls.crt'));
    copyFileSync(join(dir, `${name}.key`), join(volume, version, 'tls.key'));
    symlinkSync(version, join(volume, '..data_tmp'));
    renameSync(join(volume, '..data_tmp'), join(volume, '..data'));
  }

  beforeAll(async () => {
    ca = new TestCertificateAuthority(dir, 'ca', 'ca');
    ca.issue('server-1', '127.0.0.1', { ip: '127.0.0.1' });
    ca.issue('server-2', '127.0.0.1', { ip: '127.0.0.1' });
    mkdirSync(volume);
    publish('server-1', '..v1');
    symlinkSync(join('..data', 'tls.crt'), join(volume, 'tls.crt'));
    symlinkSync(join('..data', 'tls.key'), join(volume, 'tls.key'));
    h = await startHarness({
      config: (emulator) => ({ ...baseConfig(emulator), tls: { certFile: join(volume, 'tls.crt'), keyFile: join(volume, 'tls.key') } }),
    });
  });
  afterAll(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function get(agent: Agent | false): Promise<{ status: number; fingerprint: string; reused: boolean }> {
    return new Promise((resolve, reject) => {
      const req = request(`${h.url}/v1/tokens/ap`, { agent, ca: readFileSync(join(dir, 'ca.crt')), headers: bearer(KEYS.billing) }, (res) => {
        const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, fingerprint, reused: req.reusedSocket }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('a new connection gets the new certificate within 2 s; an open keep-alive connection keeps working', async () => {
    const first = new X509Certificate(readFileSync(join(dir, 'server-1.crt'))).fingerprint256;
    const second = new X509Certificate(readFileSync(join(dir, 'server-2.crt'))).fingerprint256;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect(await get(agent)).toMatchObject({ status: 200, fingerprint: first });
      publish('server-2', '..v2');
      const swappedAt = Date.now();
      let seen = first;
      while (seen !== second && Date.now() - swappedAt < 5_000) {
        seen = (await get(false)).fingerprint;
        if (seen !== second) await sleep(50);
      }
      const elapsed = Date.now() - swappedAt;
      console.info(`[broker, TLS certificate swapped on disk] a new connection saw the new certificate after ${elapsed} ms`);
      expect(seen).toBe(second);
      expect(elapsed).toBeLessThan(2_000);
      // The keep-alive connection made before the swap: still open, still served, still the old certificate.
      expect(await get(agent)).toEqual({ status: 200, fingerprint: first, reused: true });
      expect(lines(h).some((line) => line.msg === 'TLS certificate reloaded: new connections get it')).toBe(true);
    } finally {
      agent.destroy();
    }
  });

  it('a key that does not match the certificate keeps the last good pair, with one warning', async () => {
    ca.issue('server-3', '127.0.0.1', { ip: '127.0.0.1' });
    mkdirSync(join(volume, '..v3'));
    copyFileSync(join(dir, 'server-3.crt'), join(volume, '..v3', 'tls.crt'));
    copyFileSync(join(dir, 'server-1.key'), join(volume, '..v3', 'tls.key'));
    symlinkSync('..v3', join(volume, '..data_tmp'));
    renameSync(join(volume, '..data_tmp'), join(volume, '..data'));
    await sleep(1_600);
    const second = new X509Certificate(readFileSync(join(dir, 'server-2.crt'))).fingerprint256;
    expect((await get(false)).fingerprint).toBe(second);
    const warnings = lines(h).filter((line) => line.msg === 'TLS files unreadable or invalid; the last good certificate is kept');
    expect(warnings).toHaveLength(1);
    expect(h.logs.join('\n')).not.toContain(readFileSync(join(dir, 'server-1.key'), 'utf8').split('\n')[1]!);
  });
});
