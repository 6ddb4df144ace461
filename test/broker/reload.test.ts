/**
 * Reload without a restart (what SIGHUP does in `tokenbroker serve`): consumers, key hashes,
 * allow-lists and providers; a bad config keeps the old one; two hashes per consumer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { keyDigest } from '../../src/apps/broker/index.js';
import { ConfigError } from '../../src/base/errors.js';
import { baseConfig, bearer, KEYS, startHarness, type BrokerHarness } from './helpers.js';

let h: BrokerHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const NEW_KEY = 'tbk_newcomer_4c3b2a190817263544536271';
const ROTATED_KEY = 'tbk_billing_rotated_aa11bb22cc33dd44ee55ff66';

describe('reload', () => {
  it('a consumer added on reload works at once; cached tokens of unchanged credentials stay', async () => {
    h = await startHarness();
    const before = await h.get('/v1/tokens/ap', bearer(KEYS.billing));
    expect((await h.get('/v1/tokens/ap', bearer(NEW_KEY))).status).toBe(401);
    const requests = h.emulator.stats().providers['alternative-payments'].tokenRequests;
    const config = baseConfig(h.emulator);
    h.broker.reload({ ...config, consumers: [...config.consumers, { name: 'newcomer', keySha256: keyDigest(NEW_KEY), providers: ['ap'] }] });
    const after = await h.get('/v1/tokens/ap', bearer(NEW_KEY));
    expect(after.status).toBe(200);
    expect(after.json.access_token).toBe(before.json.access_token);
    expect(h.emulator.stats().providers['alternative-payments'].tokenRequests).toBe(requests);
    expect(h.logs.some((line) => line.includes('"msg":"config reloaded"'))).toBe(true);
  });

  it('a consumer removed on reload is refused at once (no authentication is remembered across a reload)', async () => {
    h = await startHarness();
    expect((await h.get('/v1/tokens/autopay', bearer(KEYS.payouts))).status).toBe(200);
    const config = baseConfig(h.emulator);
    h.broker.reload({ ...config, consumers: config.consumers.filter((c) => c.name !== 'payouts') });
    expect((await h.get('/v1/tokens/autopay', bearer(KEYS.payouts))).json).toMatchObject({ error: { code: 'invalid_key' } });
    expect((await h.get('/v1/tokens/autopay', bearer(KEYS.billing))).status).toBe(200);
  });

  it('a broken config keeps the old one and logs one error line naming the problem', async () => {
    h = await startHarness();
    const config = baseConfig(h.emulator);
    const logFrom = h.logs.length;
    expect(() => h!.broker.reload({ ...config, consumers: [{ name: 'x', keySha256: 'not-a-hash', providers: ['ap'] }] })).toThrow(ConfigError);
    expect(() => h!.broker.reload(() => JSON.parse('{ broken'))).toThrow();
    const errors = h.logs.slice(logFrom).filter((line) => line.includes('reload failed'));
    expect(errors).toHaveLength(2);
    expect(errors[0]).toContain('consumers[0].keySha256');
    expect((await h.get('/v1/tokens/ap', bearer(KEYS.billing))).status).toBe(200);
  });

  it('two hashes per consumer: both keys work (rotation without downtime); the audit names the key used', async () => {
    h = await startHarness({
      config: (emulator) => {
        const config = baseConfig(emulator);
        return { ...config, consumers: [{ name: 'billing', keySha256: [keyDigest(KEYS.billing), keyDigest(ROTATED_KEY)], providers: ['ap'] }] };
      },
    });
    const logFrom = h.logs.length;
    expect((await h.get('/v1/tokens/ap', bearer(KEYS.billing))).status).toBe(200);
    expect((await h.get('/v1/tokens/ap', bearer(ROTATED_KEY))).status).toBe(200);
    const keyIds = h.logs
      .slice(logFrom)
      .map((line) => JSON.parse(line) as { type?: string; keyId?: string })
      .filter((line) => line.type === 'audit')
      .map((line) => line.keyId);
    expect(keyIds).toEqual([keyDigest(KEYS.billing).slice(0, 8), keyDigest(ROTATED_KEY).slice(0, 8)]);
  });

  it('a provider whose credential changed is registered anew; a removed one is gone', async () => {
    h = await startHarness();
    await h.get('/v1/tokens/autopay', bearer(KEYS.billing));
    const config = baseConfig(h.emulator);
    const { 'ap-wrong': _gone, ...providers } = config.providers;
    h.broker.reload({ ...config, providers, consumers: config.consumers.map((c) => ({ ...c, providers: c.providers.filter((p) => p !== 'ap-wrong') })) });
    expect((await h.get('/v1/tokens/ap-wrong', bearer(KEYS.billing))).json).toMatchObject({ error: { code: 'unknown_provider' } });
    expect((await h.get('/v1/tokens/autopay', bearer(KEYS.billing))).status).toBe(200);
    expect(h.emulator.stats().providers.autopay.tokenRequests).toBe(1);
  });
});

describe('key hashes in the config', () => {
  it('the SHA-256 of an empty key is refused', async () => {
    h = await startHarness();
    const config = baseConfig(h.emulator);
    expect(() => h!.broker.reload({ ...config, consumers: [{ name: 'c', keySha256: keyDigest(''), providers: ['ap'] }] })).toThrow(/SHA-256 of an empty key/);
  });
});
