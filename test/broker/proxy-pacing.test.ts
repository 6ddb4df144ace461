/**
 * The proxy and the call budget (issue 20). The broker passes the proxy its token manager as the pacer
 * (`acquire`/`reportRateLimited`); the first tests shadow those two with a fake (own properties on the
 * manager) to check the proxy's side: a refused slot is the broker's 429 with `Retry-After` and nothing
 * is sent; an upstream 429 is reported. The fleet acceptance runs the real budget: two brokers on one
 * Redis, 1 token, 0 API 429s.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBroker, keyDigest } from '../../src/apps/broker/index.js';
import { startEmulator } from '../../src/apps/emulator/index.js';
import { skipWithoutRedis, startRedisServer } from '../redis/redis-server.js';
import { baseConfig, bearer, ENV, KEYS, startHarness, type BrokerHarness } from './helpers.js';

const fake = vi.hoisted(() => {
  const state = {
    refuse: false,
    acquired: [] as string[],
    reported: [] as { id: string; status: number; retryAfter: string | null }[],
    pacer: {
      async acquire(id: string): Promise<void> {
        state.acquired.push(id);
        if (state.refuse) {
          const { RateLimitedError } = await import('../../src/base/errors.js');
          throw new RateLimitedError('no slot within maxWaitMs', { provider: id, retryAfterMs: 2500 });
        }
      },
      async reportRateLimited(id: string, response: { status: number; headers: Headers }): Promise<void> {
        state.reported.push({ id, status: response.status, retryAfter: response.headers.get('retry-after') });
      },
    },
  };
  return state;
});

/** The fake on the manager (see the header). */
function installFake(harness: BrokerHarness): void {
  Object.assign(harness.broker.tokens, { acquire: fake.pacer.acquire, reportRateLimited: fake.pacer.reportRateLimited });
}

describe('broker proxy × call budget (fake pacer)', () => {
  let harness: BrokerHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
    fake.refuse = false;
    fake.acquired.length = 0;
    fake.reported.length = 0;
  });

  it('asks for a slot before each upstream call; no slot → 429 rate_limited with Retry-After, nothing sent', async () => {
    harness = await startHarness();
    installFake(harness);
    expect((await harness.get('/v1/proxy/ap/customers', bearer(KEYS.billing))).status).toBe(200);
    expect(fake.acquired).toEqual(['ap']);
    fake.refuse = true;
    const refused = await harness.get('/v1/proxy/ap/customers', bearer(KEYS.billing));
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('3');
    expect(refused.json).toMatchObject({ error: { code: 'rate_limited' } });
    expect(harness.emulator.stats().providers['alternative-payments'].apiCalls.ok).toBe(1);
  });

  it('an upstream 429 is reported to the budget (with its headers) and passed back', async () => {
    const api = createServer((_req, res) => {
      res.writeHead(429, { 'retry-after': '7', 'content-type': 'application/json' });
      res.end('{"error":"too_many_requests"}');
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    try {
      harness = await startHarness({
        config: (emulator) => {
          const config = baseConfig(emulator);
          return { ...config, providers: { ...config.providers, autopay: { ...config.providers.autopay!, apiBaseUrl: apiUrl } } };
        },
      });
      installFake(harness);
      const answer = await harness.post('/v1/proxy/autopay/customer_club/v2/join', {}, bearer(KEYS.billing));
      expect(answer.status).toBe(429);
      expect(answer.headers.get('retry-after')).toBe('7');
      expect(fake.reported).toEqual([{ id: 'autopay', status: 429, retryAfter: '7' }]);
    } finally {
      api.closeAllConnections();
      await new Promise((resolve) => api.close(resolve));
    }
  });
});

const noRedis = skipWithoutRedis('broker proxy pacing fleet');

describe.skipIf(noRedis)('broker proxy × call budget across a fleet', () => {
  it('two brokers on one Redis, 4 consumers bursting above the API limit for 10 s: 1 token, 0 API 429s, callers past the wait bound get 429 + Retry-After', async () => {
    const redis = await startRedisServer();
    // Alternative Payments: 5 API calls per second per key, which the emulator enforces (issue 20's API limit).
    const emulator = await startEmulator({ ban: false });
    const keys = Array.from({ length: 4 }, (_, i) => `tbk_pacing_consumer_${i}_5a4b3c2d1e0f`);
    const env = { ...ENV, REDIS_URL: redis.url };
    const brokers = [0, 1].map(() =>
      createBroker(
        baseConfig(emulator, {
          consumers: keys.map((key, i) => ({ name: `burst-${i}`, keySha256: keyDigest(key), providers: ['ap'] })),
          store: { type: 'redis', urlEnv: 'REDIS_URL', keyPrefix: 'proxy-pacing:' },
        }),
        { env, logDestination: { write: () => {} } },
      ),
    );
    try {
      const urls = await Promise.all(brokers.map((broker) => broker.listen()));
      const answers: { status: number; retryAfter: string | null; code: unknown }[] = [];
      const until = Date.now() + 10_000;
      await Promise.all(
        keys.map(async (key, i) => {
          for (let n = 0; Date.now() < until; n++) {
            const response = await fetch(`${urls[(i + n) % 2]}/v1/proxy/ap/customers`, { headers: { 'x-api-key': key } });
            const body = (await response.json()) as { error?: { code?: unknown } };
            answers.push({ status: response.status, retryAfter: response.headers.get('retry-after'), code: body.error?.code });
          }
        }),
      );
      expect(emulator.stats().providers['alternative-payments'].tokensIssued).toBe(1);
      // Every 429 is the broker's own (no slot within the wait bound), with Retry-After; none came from the API.
      const limited = answers.filter((answer) => answer.status === 429);
      expect(limited.every((answer) => answer.code === 'rate_limited' && answer.retryAfter !== null)).toBe(true);
      expect(answers.filter((answer) => answer.status === 200).length).toBeGreaterThan(0);
      expect(answers.filter((answer) => answer.status !== 200 && answer.status !== 429)).toEqual([]);
    } finally {
      for (const broker of brokers) await broker.close();
      await emulator.close();
      await redis.close();
    }
  }, 60_000);
});
