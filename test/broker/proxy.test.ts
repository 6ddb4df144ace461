/**
 * The credential-injecting proxy against the emulator: a consumer with only its key calls Alternative
 * Payments and Autopay through the broker; a token revoked upstream costs the consumer nothing (one
 * upstream 401, one new token, one replay); allow rules, proxyOnly, the audit line and the metrics.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { keyDigest } from '../../src/apps/broker/index.js';
import { baseConfig, bearer, KEYS, startHarness, type BrokerHarness } from './helpers.js';

describe('broker proxy × emulator', () => {
  let harness: BrokerHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('gets Alternative Payments customers and joins Autopay customer club with only a consumer key', async () => {
    harness = await startHarness();
    const customers = await harness.get('/v1/proxy/ap/customers?limit=2', bearer(KEYS.billing));
    expect(customers.status).toBe(200);
    expect(customers.json).toMatchObject({ data: expect.any(Array), has_next_page: expect.any(Boolean) });
    expect((customers.json.data as unknown[]).length).toBe(2);
    expect(customers.headers.get('x-request-id')).toMatch(/.+/);

    const join = await harness.post('/v1/proxy/autopay/customer_club/v2/join', { email: 'ada@example.com', first_name: 'Ada' }, { 'x-api-key': KEYS.payouts });
    expect(join.status).toBeLessThan(300);

    const stats = harness.emulator.stats();
    expect(stats.providers['alternative-payments'].apiCalls.ok).toBe(1);
    expect(stats.providers.autopay.apiCalls.ok).toBe(1);
    expect(stats.providers['alternative-payments'].tokensIssued).toBe(1);

    // The audit line: who, what, the path without its query, upstream status and times, bytes.
    const audit = harness.logs.filter((line) => line.includes('"type":"proxy"')).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(audit[0]).toMatchObject({
      consumer: 'billing',
      provider: 'ap',
      method: 'GET',
      path: '/customers',
      status: 200,
      upstreamStatus: 200,
      replayed: false,
    });
    expect(audit[0]!.upstreamMs).toEqual(expect.any(Number));
    expect(audit[0]!.bytesOut).toBeGreaterThan(0);
    expect(audit[1]).toMatchObject({ consumer: 'payouts', provider: 'autopay', method: 'POST', path: '/customer_club/v2/join' });
    expect(audit[1]!.bytesIn).toBeGreaterThan(0);
    const everything = harness.logs.join('\n');
    expect(everything).not.toContain('limit=2');
    expect(everything).not.toContain('ada@example.com');
    expect(everything).not.toContain(KEYS.billing);
    const token = await harness.broker.tokens.getToken('ap');
    expect(everything).not.toContain(token.accessToken);

    const metrics = await harness.get('/metrics');
    expect(metrics.text).toMatch(/tokenbroker_proxy_requests_total\{provider="ap",consumer="billing",status_class="2xx"\} 1/);
    expect(metrics.text).toMatch(/tokenbroker_proxy_upstream_duration_seconds_count\{provider="ap"\} 1/);
  });

  it('a token revoked upstream: the upstream sees one 401, the consumer none, one new token is issued', async () => {
    harness = await startHarness();
    expect((await harness.get('/v1/proxy/ap/customers', bearer(KEYS.billing))).status).toBe(200);
    harness.emulator.revokeTokens();
    const answer = await harness.get('/v1/proxy/ap/customers', bearer(KEYS.billing));
    expect(answer.status).toBe(200);
    const ap = harness.emulator.stats().providers['alternative-payments'];
    expect(ap.apiCalls.unauthorized).toBe(1);
    expect(ap.apiCalls.ok).toBe(2);
    expect(ap.tokensIssued).toBe(2);
    expect(harness.broker.tokens.stats().byProvider.ap!.tokensIssued.invalidated).toBe(1);

    // A POST with a JSON body is replayed too (the body is buffered).
    harness.emulator.revokeTokens();
    const join = await harness.post('/v1/proxy/autopay/customer_club/v2/join', { email: 'bo@example.com' }, bearer(KEYS.billing));
    expect(join.status).toBeLessThan(300);
    const audit = harness.logs.filter((line) => line.includes('"type":"proxy"')).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(audit.at(-2)).toMatchObject({ replayed: true, status: 200, upstreamStatus: 200 });
    const metrics = await harness.get('/metrics');
    expect(metrics.text).toMatch(/tokenbroker_proxy_replays_total\{provider="ap",outcome="replayed"\} 1/);
  });

  it('allow rules limit methods and path prefixes; a proxyOnly consumer is refused raw tokens', async () => {
    harness = await startHarness({
      config: (emulator) =>
        baseConfig(emulator, {
          consumers: [
            {
              name: 'billing',
              keySha256: keyDigest(KEYS.billing),
              providers: ['ap', 'autopay'],
              proxyOnly: true,
              allow: [{ provider: 'ap', methods: ['GET'], paths: ['/customers'] }],
            },
          ],
        }),
    });
    expect((await harness.get('/v1/proxy/ap/customers', bearer(KEYS.billing))).status).toBe(200);
    expect((await harness.get('/v1/proxy/ap/customers/abc', bearer(KEYS.billing))).status).not.toBe(403);
    const other = await harness.get('/v1/proxy/ap/customersX', bearer(KEYS.billing));
    expect(other.status).toBe(403);
    expect(other.json).toMatchObject({ error: { code: 'proxy_not_allowed' } });
    const post = await harness.post('/v1/proxy/ap/customers', {}, bearer(KEYS.billing));
    expect(post.json).toMatchObject({ error: { code: 'proxy_not_allowed' } });
    // No rule names autopay: whatever the provider allow-list allows.
    expect((await harness.post('/v1/proxy/autopay/customer_club/v2/join', { email: 'c@example.com' }, bearer(KEYS.billing))).status).toBeLessThan(300);
    const raw = await harness.get('/v1/tokens/ap', bearer(KEYS.billing));
    expect(raw.status).toBe(403);
    expect(raw.json).toMatchObject({ error: { code: 'proxy_only' } });
    expect(raw.text).not.toMatch(/access_token/);
    const metrics = await harness.get('/metrics');
    expect(metrics.text).toMatch(/tokenbroker_proxy_refusals_total\{reason="proxy_not_allowed"\} 2/);
  });

  it('admission applies as for tokens: no key, a wrong key, a provider not allowed, an unknown provider', async () => {
    harness = await startHarness();
    expect((await harness.get('/v1/proxy/ap/customers')).json).toMatchObject({ error: { code: 'unauthenticated' } });
    expect((await harness.get('/v1/proxy/ap/customers', bearer('tbk_wrong'))).json).toMatchObject({ error: { code: 'invalid_key' } });
    expect((await harness.get('/v1/proxy/ap/customers', bearer(KEYS.payouts))).json).toMatchObject({ error: { code: 'provider_not_allowed' } });
    expect((await harness.get('/v1/proxy/nope/customers', bearer(KEYS.billing))).json).toMatchObject({ error: { code: 'unknown_provider' } });
    expect(harness.emulator.stats().providers['alternative-payments'].apiCalls.ok).toBe(0);
    expect(harness.logs.filter((line) => line.includes('"type":"proxy"'))).toHaveLength(4);
  });

  it('a reload that makes a provider DPoP-bound refuses its raw tokens from then on', async () => {
    const withIdp = (dpop: boolean) => (emulator: Parameters<typeof baseConfig>[0]) => {
      const config = baseConfig(emulator);
      const idp = {
        type: 'oauth2' as const,
        clientId: 'c',
        clientSecretEnv: 'AP_SECRET',
        tokenUrl: 'http://127.0.0.1:9/token',
        apiBaseUrl: 'http://127.0.0.1:9/api',
      };
      return {
        ...config,
        providers: { ...config.providers, idp: dpop ? { ...idp, dpop: true as const } : idp },
        consumers: [{ name: 'billing', keySha256: keyDigest(KEYS.billing), providers: ['ap', 'idp'] }],
      };
    };
    harness = await startHarness({ config: withIdp(false) });
    expect((await harness.get('/v1/tokens/idp', bearer(KEYS.billing))).json).not.toMatchObject({ error: { code: 'proxy_only' } });
    harness.broker.reload(withIdp(true)(harness.emulator), { env: { AP_SECRET: 'x', AUTOPAY_SECRET: 'y', WRONG_SECRET: 'z' } });
    const refused = await harness.get('/v1/tokens/idp', bearer(KEYS.billing));
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({ error: { code: 'proxy_only' } });
  });
});
