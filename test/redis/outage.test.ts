/**
 * Redis stopped mid-run (issue 4, acceptance 4): callers keep getting valid tokens, none waits past the
 * manager's timeout, and once Redis is back the managers share again. Three managers with their own
 * connections stand for three processes, so the test can stop Redis between two calls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alternativePayments, createTokenManager, type SharedTokenStore, type TokenManager } from '../../src/index.js';
import { redisStore } from '../../src/stores/redis/index.js';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { skipWithoutRedis, startRedisServer, type RedisServer } from './redis-server.js';

const skip = skipWithoutRedis('test/redis/outage.test.ts');
const CLIENT = { clientId: 'outage-client', clientSecret: 'outage-secret' };
const TIMEOUT_MS = 2_000;

let server: RedisServer;
let emulator: Emulator;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(skip)('Redis outage', () => {
  beforeAll(async () => {
    server = await startRedisServer();
    emulator = await startEmulator({ clients: [{ provider: 'alternative-payments', ...CLIENT }] });
  });
  afterAll(async () => {
    await emulator?.close();
    await server?.close();
  });

  it('falls back to local tokens within the timeout, then resumes sharing when Redis returns', { timeout: 45_000 }, async () => {
    const requests = () => emulator.stats().providers['alternative-payments'].tokenRequests;
    const messages: string[] = [];
    const logger = {
      debug() {},
      info: (_: unknown, message: string) => messages.push(message),
      warn: (_: unknown, message: string) => messages.push(message),
      error() {},
    };
    const stores: SharedTokenStore[] = [];
    const managers: TokenManager[] = [];
    for (let i = 0; i < 3; i++) {
      const store = redisStore({ url: server.url, keyPrefix: 'outage:', commandTimeoutMs: 500 });
      stores.push(store);
      managers.push(
        createTokenManager({
          providers: { ap: alternativePayments({ baseUrl: emulator.alternativePaymentsBaseUrl, ...CLIENT }) },
          store,
          timeoutMs: TIMEOUT_MS,
          retry: { attempts: 1 },
          logger,
        }),
      );
    }
    const valid = async (accessToken: string) =>
      (await fetch(`${emulator.alternativePaymentsBaseUrl}/customers?limit=1`, { headers: { authorization: `Bearer ${accessToken}` } })).status === 200;
    // Every manager asks at once, 20 callers each; returns each call's duration and the tokens.
    const burst = async () => {
      const calls = managers.flatMap((tokens) =>
        Array.from({ length: 20 }, async () => {
          const started = Date.now();
          const token = await tokens.getToken('ap');
          return { ms: Date.now() - started, accessToken: token.accessToken };
        }),
      );
      return Promise.all(calls);
    };

    try {
      // Shared: one request for the three.
      const shared = await burst();
      expect(new Set(shared.map((call) => call.accessToken)).size).toBe(1);
      expect(requests()).toBe(1);

      // Redis goes away; every manager loses its token and must fetch again.
      await server.stop();
      for (const tokens of managers) tokens.invalidate('ap');
      const during = await burst();
      const slowest = Math.max(...during.map((call) => call.ms));
      const duringTokens = new Set(during.map((call) => call.accessToken));
      console.info(`[outage] Redis down: slowest call ${slowest} ms (timeout ${TIMEOUT_MS} ms), ${requests() - 1} requests for 3 managers`);
      expect(slowest).toBeLessThan(TIMEOUT_MS);
      expect(requests()).toBe(4); // each manager on its own: one each
      for (const accessToken of duringTokens) expect(await valid(accessToken)).toBe(true);
      expect(messages).toContain("shared store unavailable; falling back to this process's cache until it answers again");
      // Warm calls never touch Redis: still instant while it is down.
      const warm = await burst();
      expect(Math.max(...warm.map((call) => call.ms))).toBeLessThan(100);
      const downUntil = Date.now();

      // Redis returns, on the same port and empty. Once the stores answer and the managers' rest is over,
      // the three share again: one request.
      await server.start();
      for (const store of stores) {
        for (let attempt = 0; ; attempt++) {
          const answered = await store.get('probe').then(
            () => true,
            () => false,
          );
          if (answered) break;
          if (attempt > 100) throw new Error('the store never reconnected');
          await sleep(100);
        }
      }
      await sleep(Math.max(0, downUntil + 5_500 - Date.now()));
      for (const tokens of managers) tokens.invalidate('ap');
      const resumed = await burst();
      const resumedTokens = new Set(resumed.map((call) => call.accessToken));
      console.info(`[outage] Redis back: ${requests() - 4} request for 3 managers`);
      expect(resumedTokens.size).toBe(1);
      expect(requests()).toBe(5);
      expect(await valid([...resumedTokens][0]!)).toBe(true);
      expect(messages).toContain('trying the shared store again');
    } finally {
      await Promise.all(managers.map((tokens) => tokens.close()));
    }
  });

  it('a frozen Redis (no answers at all) costs each caller at most commandTimeoutMs before the fallback', { timeout: 30_000 }, async () => {
    const before = emulator.stats().providers['alternative-payments'].tokenRequests;
    const managers = [0, 1].map(() =>
      createTokenManager({
        providers: { ap: alternativePayments({ baseUrl: emulator.alternativePaymentsBaseUrl, ...CLIENT }) },
        store: redisStore({ url: server.url, keyPrefix: 'frozen:', commandTimeoutMs: 500 }),
        timeoutMs: TIMEOUT_MS,
        retry: { attempts: 1 },
      }),
    );
    try {
      await Promise.all(managers.map((tokens) => tokens.getToken('ap')));
      expect(emulator.stats().providers['alternative-payments'].tokenRequests - before).toBe(1);
      server.pause();
      for (const tokens of managers) tokens.invalidate('ap');
      const calls = await Promise.all(
        managers.map(async (tokens) => {
          const started = Date.now();
          const token = await tokens.getToken('ap');
          return { ms: Date.now() - started, token };
        }),
      );
      const slowest = Math.max(...calls.map((call) => call.ms));
      console.info(`[outage] Redis frozen: slowest call ${slowest} ms (commandTimeoutMs 500, timeout ${TIMEOUT_MS} ms)`);
      expect(slowest).toBeLessThan(TIMEOUT_MS);
      for (const call of calls) expect(call.token.expiresAt).toBeGreaterThan(Date.now());
    } finally {
      server.resume();
      await Promise.all(managers.map((tokens) => tokens.close()));
    }
  });
});
