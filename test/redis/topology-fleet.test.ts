/**
 * A fleet of real processes on a real Redis Cluster (three masters) and on Redis Sentinel (a master, a
 * replica, three sentinels) (issue 13): the built package in child processes connected with
 * `{ cluster: nodes }` or `{ sentinels, name }`, the emulator in this one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { runFleet, spawnWorker, type WorkerConfig } from '../helpers/fleet.js';
import { skipWithoutTopologies, startRedisCluster, startRedisSentinel } from './topology.js';

const skip = skipWithoutTopologies('test/redis/topology-fleet.test.ts');
const FALLBACK = "shared store unavailable; falling back to this process's cache until it answers again";

/** Each topology: how to start it, and the connection a worker gets. */
const TOPOLOGIES = [
  {
    name: 'cluster',
    title: 'Redis Cluster',
    start: async () => {
      const cluster = await startRedisCluster();
      return { connection: { cluster: cluster.nodes }, close: () => cluster.close() };
    },
  },
  {
    name: 'sentinel',
    title: 'Redis Sentinel',
    start: async () => {
      const sentinel = await startRedisSentinel();
      return { connection: { sentinels: sentinel.sentinels, name: sentinel.name }, close: () => sentinel.close() };
    },
  },
];

describe.skipIf(skip).each(TOPOLOGIES)('a fleet of processes on $title', ({ name, start }) => {
  const client = { clientId: `${name}-fleet-client`, clientSecret: `${name}-fleet-secret-Zq8+/=` };
  let topology: Awaited<ReturnType<typeof start>>;
  let emulator: Emulator;
  beforeAll(async () => {
    topology = await start();
    emulator = await startEmulator({ clients: [{ provider: 'alternative-payments', ...client }] });
  }, 60_000);
  afterAll(async () => {
    await emulator?.close();
    await topology?.close();
  });

  it('8 processes × 1,000 concurrent cold calls → exactly 1 token request, no fallback warning; a later process sends none', { timeout: 60_000 }, async () => {
    const tokenRequests = () => emulator.stats().providers['alternative-payments'].tokenRequests;
    emulator.configure({ latencyMs: 500 });
    const config: WorkerConfig = {
      connection: topology.connection,
      provider: { baseUrl: emulator.alternativePaymentsBaseUrl, ...client },
      store: { keyPrefix: `${name}-fleet-${process.pid}:` },
      mode: 'cold',
      concurrency: 1_000,
    };
    try {
      const { results, exits } = await runFleet(8, config);
      const tokens = new Set(results.flatMap((result) => result.accessTokens));
      console.info(`[${name}-fleet] 8×1000 cold calls: ${tokenRequests()} token request; slowest process ${Math.max(...results.map((r) => r.ms))} ms`);
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
