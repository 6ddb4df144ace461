/**
 * One clock for the fleet (issue 13): processes whose clocks are 5 minutes behind, right, and 5 minutes
 * ahead share one issuance budget exactly, because the ledger counts by the Redis server's TIME.
 * Each is a real process (the built package) with its Date.now() shifted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { spawnWorker, type WorkerConfig } from '../helpers/fleet.js';
import { skipWithoutRedis, startRedisServer, type RedisServer } from './redis-server.js';

const skip = skipWithoutRedis('test/redis/clock-skew.pkg.test.ts');
const CLIENT = { clientId: 'skew-client', clientSecret: 'skew-secret' };
const FIVE_MINUTES = 5 * 60_000;

let server: RedisServer;
let emulator: Emulator;

describe.skipIf(skip)('clock skew across the fleet', () => {
  beforeAll(async () => {
    server = await startRedisServer();
    emulator = await startEmulator({ clients: [{ provider: 'alternative-payments', ...CLIENT }] });
  });
  afterAll(async () => {
    await emulator?.close();
    await server?.close();
  });

  it('clocks at −5 min, 0 and +5 min: the budget of 3 holds across them exactly', { timeout: 60_000 }, async () => {
    const tokenRequests = () => emulator.stats().providers['alternative-payments'].tokenRequests;
    const config: WorkerConfig = {
      redisUrl: server.url,
      provider: { baseUrl: emulator.alternativePaymentsBaseUrl, ...CLIENT },
      store: { keyPrefix: `skew-${process.pid}:` },
      manager: { guard: { maxTokens: 3, windowMs: 120_000 }, retry: { attempts: 1 } },
      mode: 'force',
      forceCount: 3,
    };
    // One after another, so each process asks while the others' tokens are in the ledger: with each
    // process's own clock, the one 5 minutes ahead would see them all as older than the 2-minute window.
    const results = [];
    for (const clockOffsetMs of [-FIVE_MINUTES, 0, FIVE_MINUTES, -FIVE_MINUTES, FIVE_MINUTES]) {
      const worker = spawnWorker({ ...config, clockOffsetMs });
      results.push(await worker.result);
      expect(await worker.exit).toBe(0);
    }
    const issued = results.reduce((sum, result) => sum + result.stats.requestsSent, 0);
    console.info(
      `[clock-skew] clocks −5/0/+5/−5/+5 min, budget 3: ${tokenRequests()} token requests, ${results.reduce((sum, r) => sum + r.stats.guardRefusals, 0)} refusals`,
    );
    expect(tokenRequests()).toBe(3);
    expect(issued).toBe(3);
    expect(results.every((result) => result.accessTokens.length > 0 || result.errorCount > 0)).toBe(true);
  });
});
