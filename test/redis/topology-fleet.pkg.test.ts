/**
 * A fleet of real processes on a real Redis Cluster (three masters) and on Redis Sentinel (a master, a
 * replica, three sentinels) (issue 13): the built package in child processes connected with
 * `{ cluster: nodes }` or `{ sentinels, name }`, the emulator in this one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { expectOneTokenAcrossFleet, type WorkerConfig } from '../helpers/fleet.js';
import { skipWithoutTopologies, startRedisCluster, startRedisSentinel } from './topology.js';

const skip = skipWithoutTopologies('test/redis/topology-fleet.pkg.test.ts');
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
      const results = await expectOneTokenAcrossFleet(`${name}-fleet`, 8, config, tokenRequests, 10);
      expect(results.flatMap((result) => result.warnings)).not.toContain(FALLBACK);
    } finally {
      emulator.configure({ latencyMs: 0 });
    }
  });
});
