/**
 * Consumer-reported rejection: POST /v1/tokens/:provider/invalidate, and fromBroker() at the other end.
 */
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenManager, fromBroker, InvalidCredentialsError } from '../../src/index.js';
import { baseConfig, bearer, KEYS, startHarness, type BrokerHarness } from './helpers.js';

let h: BrokerHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const apRequests = (harness: BrokerHarness) => harness.emulator.stats().providers['alternative-payments'].tokenRequests;
const audits = (harness: BrokerHarness, from: number) =>
  harness.logs
    .slice(from)
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.type === 'audit');

describe('POST /v1/tokens/:provider/invalidate', () => {
  it('after a revocation: a new token for the rejected one; the same report again gets it without a request', async () => {
    h = await startHarness();
    const first = await h.get('/v1/tokens/ap', bearer(KEYS.billing));
    const old = String(first.json.access_token);
    h.emulator.revokeTokens();
    // Asking again without a report returns the same (revoked) token: the broker cannot know.
    expect((await h.get('/v1/tokens/ap', bearer(KEYS.billing))).json.access_token).toBe(old);
    const before = apRequests(h);
    const logFrom = h.logs.length;

    const fresh = await h.post('/v1/tokens/ap/invalidate', { accessToken: old }, bearer(KEYS.billing));
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('cache-control')).toBe('no-store');
    expect(fresh.json.access_token).not.toBe(old);
    expect(apRequests(h)).toBe(before + 1);
    // The new token works on the provider's API.
    const api = await fetch(`${h.emulator.alternativePaymentsBaseUrl}/customers`, { headers: { authorization: `Bearer ${String(fresh.json.access_token)}` } });
    expect(api.status).toBe(200);

    const again = await h.post('/v1/tokens/ap/invalidate', { accessToken: old }, bearer(KEYS.billing));
    expect(again.status).toBe(200);
    expect(again.json.access_token).toBe(fresh.json.access_token);
    expect(apRequests(h)).toBe(before + 1);

    const lines = audits(h, logFrom);
    expect(lines).toEqual([
      expect.objectContaining({ outcome: 'invalidated', consumer: 'billing', provider: 'ap', status: 200 }),
      expect.objectContaining({ outcome: 'invalidated', code: 'already_replaced', status: 200 }),
    ]);
    expect(JSON.stringify(lines)).not.toContain(old);
    const metrics = (await h.get('/metrics')).text;
    expect(metrics).toMatch(/tokenbroker_invalidations_total\{consumer="billing",provider="ap",result="dropped"\} 1/);
    expect(metrics).toMatch(/tokenbroker_invalidations_total\{consumer="billing",provider="ap",result="already_replaced"\} 1/);
  });

  it('a consumer past its allowance gets 429 with Retry-After, and no token is issued', async () => {
    h = await startHarness({ config: (emulator) => baseConfig(emulator, { limits: { invalidationsPerConsumer: 1, invalidationWindowMs: 60_000 } }) });
    const t1 = String((await h.get('/v1/tokens/ap', bearer(KEYS.billing))).json.access_token);
    const t2 = String((await h.post('/v1/tokens/ap/invalidate', { accessToken: t1 }, bearer(KEYS.billing))).json.access_token);
    const before = apRequests(h);
    const refused = await h.post('/v1/tokens/ap/invalidate', { accessToken: t2 }, bearer(KEYS.billing));
    expect(refused.status).toBe(429);
    expect(refused.json).toEqual({ error: { code: 'invalidation_limit', message: expect.stringContaining('nothing was invalidated') } });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(50);
    expect(apRequests(h)).toBe(before);
    // The current token is untouched and still served.
    expect((await h.get('/v1/tokens/ap', bearer(KEYS.billing))).json.access_token).toBe(t2);
  });

  it('needs the same authentication and allow-list as GET, and a JSON body with accessToken', async () => {
    h = await startHarness();
    expect((await h.post('/v1/tokens/ap/invalidate', { accessToken: 'x' })).status).toBe(401);
    expect((await h.post('/v1/tokens/ap/invalidate', { accessToken: 'x' }, bearer(KEYS.payouts))).json).toMatchObject({
      error: { code: 'provider_not_allowed' },
    });
    const bad = await h.post('/v1/tokens/ap/invalidate', { token: 'x' }, bearer(KEYS.billing));
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ error: { code: 'bad_request', message: expect.stringContaining('accessToken') } });
    // A form-encoded report: 415 with a code of its own (before: bad_request).
    const form = await fetch(`${h.url}/v1/tokens/ap/invalidate`, {
      method: 'POST',
      headers: { ...bearer(KEYS.billing), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'accessToken=x',
    });
    expect(form.status).toBe(415);
    expect(await form.json()).toEqual({
      error: { code: 'unsupported_media_type', message: 'The body must be JSON, sent with content-type: application/json' },
    });
    const get = await h.get('/v1/tokens/ap/invalidate', bearer(KEYS.billing));
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });
});

describe('fromBroker', () => {
  it('getToken and client() through a broker; a revoked token is reported and replaced with one retry', async () => {
    h = await startHarness();
    const tokens = createTokenManager({
      providers: { ap: fromBroker({ url: h.url, apiKey: KEYS.billing, provider: 'ap', apiBaseUrl: h.emulator.alternativePaymentsBaseUrl }) },
    });
    try {
      const token = await tokens.getToken('ap');
      expect(token.tokenType).toBe('Bearer');
      const customers = await tokens.client('ap').get('customers').json<{ data: unknown[] }>();
      expect(Array.isArray(customers.data)).toBe(true);
      expect(apRequests(h)).toBe(1);

      h.emulator.revokeTokens();
      const logFrom = h.logs.length;
      const after = await tokens.client('ap').get('customers');
      expect(after.status).toBe(200);
      expect(apRequests(h)).toBe(2);
      // One report reached the broker, with the rejected token: one retry, no loop.
      expect(audits(h, logFrom)).toEqual([expect.objectContaining({ outcome: 'invalidated', consumer: 'billing', provider: 'ap', status: 200 })]);
      expect(audits(h, logFrom)[0]).not.toHaveProperty('code');
      expect((await tokens.getToken('ap')).accessToken).not.toBe(token.accessToken);
      // The broker's own cache has the new token too: another consumer gets it without a request.
      expect((await h.get('/v1/tokens/ap', bearer(KEYS.billing))).json.access_token).toBe((await tokens.getToken('ap')).accessToken);
      expect(apRequests(h)).toBe(2);
    } finally {
      await tokens.close();
    }
  });

  it('never shows the API key: inspect, JSON, errors', async () => {
    h = await startHarness();
    const wrongKey = 'tbk_wrong_consumer_key_9a8b7c6d5e4f3a2b1c0d';
    const provider = fromBroker({ url: h.url, apiKey: wrongKey, provider: 'ap' });
    const tokens = createTokenManager({ providers: { ap: provider }, retry: { attempts: 1 } });
    try {
      const error = await tokens.getToken('ap').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidCredentialsError);
      expect((error as Error).message).toContain('HTTP 401 invalid_key');
      for (const text of [
        inspect(provider, { depth: 5 }),
        JSON.stringify(provider),
        inspect(tokens, { depth: 5 }),
        inspect(error, { depth: 5 }),
        JSON.stringify(error),
      ]) {
        expect(text).not.toContain(wrongKey);
      }
    } finally {
      await tokens.close();
    }
  });

  it('validates its options, naming fields and never quoting the key', () => {
    const key = 'tbk_secret_key_for_validation_0123456789';
    let error: unknown;
    try {
      fromBroker({ url: 'http://broker.example.com', apiKey: key, provider: 'a b' });
    } catch (e) {
      error = e;
    }
    const text = String((error as Error).message);
    expect(text).toContain('fromBroker.url');
    expect(text).toContain('fromBroker.provider');
    expect(text).not.toContain(key);
  });
});
