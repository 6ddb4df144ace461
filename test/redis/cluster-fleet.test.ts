/**
 * A fleet of real processes on a real 3-master Redis Cluster (issue 13): the built package in child
 * processes connected with `{ cluster: nodes }`, the emulator in this one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { runFleet, spawnWorker, type WorkerConfig } from '../helpers/fleet.js';
import { skipWithoutTopologies, startRedisCluster, type RedisClusterHandle } from './topology.js';

const skip = skipWithoutTopologies('test/redis/cluster-fleet.test.ts');
const CLIENT = { clientId: 'cluster-fleet-client', clientSecret: 'cluster-fleet-secret-Zq8+/=' };
const FALLBACK = "shared store unavailable; falling back to this process's cache until it answers again";

let cluster: RedisClusterHandle;
let emulator: Emulator;

describe.skipIf(skip)('a fleet of processes on Redis Cluster', () => {
  beforeAll(async () => {
    cluster = await startRedisCluster();
    emulator = await startEmulator({ clients: [{ provider: 'alternative-payments', ...CLIENT }] });
  }, 60_000);
  afterAll(async () => {
    await emulator?.close();
    await cluster?.close();
  });

  it('8 processes × 1,000 concurrent cold calls → exactly 1 token request, no fallback warning; a later process sends none', { timeout: 60_000 }, async () => {
    const tokenRequests = () => emulator.stats().providers['alternative-payments'].tokenRequests;
    emulator.configure({ latencyMs: 500 });
    const config: WorkerConfig = {
      connection: { cluster: cluster.nodes },
      provider: { baseUrl: emulator.alternativePaymentsBaseUrl, ...CLIENT },
      store: { keyPrefix: `cluster-fleet-${process.pid}:` },
      mode: 'cold',
      concurrency: 1_000,
    };
    try {
      const { results, exits } = await runFleet(8, config);
      const tokens = new Set(results.flatMap((result) => result.accessTokens));
      console.info(`[cluster-fleet] 8×1000 cold calls: ${tokenRequests()} token request; slowest process ${Math.max(...results.map((r) => r.ms))} ms`);
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
