/**
 * A fleet of real processes on one Redis (issue 4, acceptance 1–3): the built package in child
 * processes, the emulator (or a stalling loopback token server) in this one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alternativePayments } from '../../src/index.js';
import { redisStore } from '../../src/stores/redis/index.js';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { startLoopbackServer } from '../helpers/loopback-server.js';
import { expectOneTokenAcrossFleet, runFleet, spawnWorker, type WorkerConfig } from '../helpers/fleet.js';
import { skipWithoutRedis, startRedisServer, type RedisServer } from './redis-server.js';

const skip = skipWithoutRedis('test/redis/fleet.pkg.test.ts');
const CLIENT = { clientId: 'fleet-client', clientSecret: 'fleet-secret-Zq8+/=' };

let server: RedisServer;
let emulator: Emulator;
let prefixes = 0;
const nextPrefix = () => `fleet-${process.pid}-${++prefixes}:`;

const tokenRequests = () => emulator.stats().providers['alternative-payments'].tokenRequests;

describe.skipIf(skip)('a fleet of processes on one Redis', () => {
  beforeAll(async () => {
    server = await startRedisServer();
    emulator = await startEmulator({ clients: [{ provider: 'alternative-payments', ...CLIENT }] });
  });
  afterAll(async () => {
    await emulator?.close();
    await server?.close();
  });

  const base = (): WorkerConfig => ({
    redisUrl: server.url,
    provider: { baseUrl: emulator.alternativePaymentsBaseUrl, ...CLIENT },
    store: { keyPrefix: nextPrefix() },
  });

  it('8 processes × 1,000 concurrent cold calls → exactly 1 token request; a process started later sends none', async () => {
    emulator.reset();
    // The one request stays in flight long enough for every process to be asking at the same time.
    emulator.configure({ latencyMs: 500 });
    const config = { ...base(), mode: 'cold' as const, concurrency: 1_000 };
    try {
      await expectOneTokenAcrossFleet('fleet', 8, config, tokenRequests, 10);
    } finally {
      emulator.configure({ latencyMs: 0 });
    }
  });

  it('the lock holder killed with SIGKILL mid-request → another process takes over after the lock TTL, 2 requests in all', async () => {
    let stalled: (() => void) | undefined;
    const firstRequestArrived = new Promise<void>((resolve) => (stalled = resolve));
    const tokenServer = await startLoopbackServer((request, response) => {
      if (tokenServerRequests() === 1) {
        stalled?.();
        return; // never answers: the holder is "mid-request" until it is killed
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ access_token: `taken-over-${Date.now()}`, expires_in: 3600, token_type: 'bearer' }));
    });
    const tokenServerRequests = () => tokenServer.requests();
    // Lock TTL = timeoutMs + 5 s = 8 000; a live holder renews it, a dead one stops renewing.
    const lockTtlMs = 8_000;
    const config: WorkerConfig = {
      redisUrl: server.url,
      provider: { baseUrl: tokenServer.url, ...CLIENT },
      store: { keyPrefix: nextPrefix() },
      manager: { timeoutMs: 3_000, retry: { attempts: 1, maxDelayMs: 0 } },
      mode: 'cold',
      concurrency: 50,
    };
    try {
      const holder = spawnWorker(config);
      await firstRequestArrived;
      const waiter = spawnWorker(config);
      // Let the second process reach the lock and start waiting, then kill the holder.
      await new Promise((resolve) => setTimeout(resolve, 800));
      holder.process.kill('SIGKILL');
      const killedAt = Date.now();
      expect(await holder.exit).toBe('SIGKILL');
      const result = await waiter.result;
      const afterKill = Date.now() - killedAt;
      console.info(`[fleet] holder killed: token ${afterKill} ms after the kill (lock TTL ${lockTtlMs} ms), ${tokenServerRequests()} requests`);
      expect(result.errorCount).toBe(0);
      expect(result.accessTokens).toHaveLength(1);
      expect(afterKill).toBeLessThan(lockTtlMs + 3_000);
      expect(tokenServerRequests()).toBeLessThanOrEqual(2);
      expect(await waiter.exit).toBe(0);
    } finally {
      await tokenServer.close();
    }
  });

  it('a live holder renews its lock: a fetch that outlasts the lock TTL (429 + Retry-After) is not duplicated', async () => {
    let answered = 0;
    const tokenServer = await startLoopbackServer((_request, response) => {
      answered += 1;
      if (answered <= 2) {
        response.writeHead(429, { 'retry-after': '4', 'content-type': 'application/json' }).end('{"error":"slow_down"}');
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ access_token: `renewed-${Date.now()}`, expires_in: 3600, token_type: 'bearer' }));
    });
    // Lock TTL = timeoutMs + 5 s = 6 s; the holder's fetch takes about 8 s (two 4 s Retry-After waits).
    const config: WorkerConfig = {
      redisUrl: server.url,
      provider: { baseUrl: tokenServer.url, ...CLIENT },
      store: { keyPrefix: nextPrefix() },
      manager: { timeoutMs: 1_000, retry: { attempts: 3 } },
      mode: 'cold',
      concurrency: 20,
    };
    try {
      const holder = spawnWorker(config);
      while (answered === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      const waiter = spawnWorker(config);
      const [held, waited] = await Promise.all([holder.result, waiter.result]);
      console.info(`[fleet] renewal: ${answered} token-server requests, holder ${held.ms} ms`);
      expect(held.ms).toBeGreaterThan(6_000); // the fetch really did outlast one lock TTL
      expect(held.errorCount + waited.errorCount).toBe(0);
      expect(new Set([...held.accessTokens, ...waited.accessTokens]).size).toBe(1);
      expect(answered).toBe(3); // the holder's three attempts; the waiter never fetched
      expect(waited.stats.requestsSent).toBe(0);
      expect([await holder.exit, await waiter.exit]).toEqual([0, 0]);
    } finally {
      await tokenServer.close();
    }
  });

  it('processes together never exceed the issuance budget, also after every process restarts', async () => {
    emulator.reset();
    const before = tokenRequests();
    const config: WorkerConfig = {
      ...base(),
      manager: { guard: { maxTokens: 3, windowMs: 120_000 }, retry: { attempts: 1 } },
    };
    // First generation: each process takes a token and then forces 3 refreshes — 16 attempts, budget 3.
    const first = await runFleet(4, { ...config, mode: 'force', forceCount: 3 });
    expect(tokenRequests() - before).toBe(3);
    expect(first.results.reduce((sum, result) => sum + result.stats.guardRefusals, 0)).toBeGreaterThan(0);
    expect(first.results.every((result) => result.accessTokens.length > 0)).toBe(true);

    // Every process restarts; the shared token is gone too. The budget lives in Redis, so still no request.
    const keyPrefix = (config.store as { keyPrefix: string }).keyPrefix;
    const store = redisStore({ url: server.url, keyPrefix });
    await store.delete(alternativePayments({ baseUrl: emulator.alternativePaymentsBaseUrl, ...CLIENT }).cacheKey);
    await store.close();
    const second = await runFleet(4, { ...config, mode: 'cold', concurrency: 20 });
    expect(tokenRequests() - before).toBe(3);
    for (const result of second.results) {
      expect(result.accessTokens).toEqual([]);
      expect(result.errorCount).toBe(20);
      expect(result.errors[0]).toMatchObject({ name: 'IssuanceLimitError', code: 'issuance_limit' });
      expect(result.errors[0]!.retryAfterMs).toBeGreaterThan(0);
    }
    console.info(`[fleet] budget 3: ${tokenRequests() - before} token requests across 2 generations of 4 processes`);
  });
});
