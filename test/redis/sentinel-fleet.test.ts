/**
 * A fleet of real processes on a real 3-master Redis Sentinel (issue 13): the built package in child
 * processes connected with `{ sentinels, name }`, the emulator in this one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { runFleet, spawnWorker, type WorkerConfig } from '../helpers/fleet.js';
import { skipWithoutTopologies, startRedisSentinel, type RedisSentinelHandle } from './topology.js';

const skip = skipWithoutTopologies('test/redis/sentinel-fleet.test.ts');
const CLIENT = { clientId: 'sentinel-fleet-client', clientSecret: 'sentinel-fleet-secret-Zq8+/=' };
const FALLBACK = "shared store unavailable; falling back to this process's cache until it answers again";

let sentinel: RedisSentinelHandle;
let emulator: Emulator;

describe.skipIf(skip)('a fleet of processes on Redis Sentinel', () => {
  beforeAll(async () => {
    sentinel = await startRedisSentinel();
    emulator = await startEmulator({ clients: [{ provider: 'alternative-payments', ...CLIENT }] });
  }, 60_000);
  afterAll(async () => {
    await emulator?.close();
    await sentinel?.close();
  });

  it('8 processes × 1,000 concurrent cold calls → exactly 1 token request, no fallback warning; a later process sends none', { timeout: 60_000 }, async () => {
    const tokenRequests = () => emulator.stats().providers['alternative-payments'].tokenRequests;
    emulator.configure({ latencyMs: 500 });
    const config: WorkerConfig = {
      connection: { sentinels: sentinel.sentinels, name: sentinel.name },
      provider: { baseUrl: emulator.alternativePaymentsBaseUrl, ...CLIENT },
      store: { keyPrefix: `sentinel-fleet-${process.pid}:` },
      mode: 'cold',
      concurrency: 1_000,
    };
    try {
      const { results, exits } = await runFleet(8, config);
      const tokens = new Set(results.flatMap((result) => result.accessTokens));
      console.info(`[sentinel-fleet] 8×1000 cold calls: ${tokenRequests()} token request; slowest process ${Math.max(...results.map((r) => r.ms))} ms`);
      expect(results.map((result) => result.errorCount)).toEqual(Array(8).fill(0));
      expect(results.flatMap((result) => result.warnings)).not.toContain(FALLBACK);
      expect(tokens.size).toBe(1);
      expect(tokenRequests()).toBe(1);
      expect(results.reduce((sum, result) => sum + result.stats.requestsSent, 0)).toBe(1);
      expect(exits).toEqual(Array(8).fill(0));

      const late = spawnWorker({ ...config, concurrency: 10 });
      const lateResult = await late.result;
      expect(lateResult.accessTokens).toEqual([...tokens]);
      expect(lateResult.stats.requestsSent).toBe(0);
      expect(await late.exit).toBe(0);
    } finally {
      emulator.configure({ latencyMs: 0 });
    }
  });
});
