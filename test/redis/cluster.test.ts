/**
 * The Redis store on a real 3-master Redis Cluster (issue 13): the conformance suites, the one-slot key
 * layout, sharded notifications, managers sharing one token, and a resharding under steady traffic.
 */
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenManager, defineProvider, type Provider, type TokenManager } from '../../src/index.js';
import { namesFor } from '../../src/stores/redis/keys.js';
import { redisStore } from '../../src/stores/redis/index.js';
import { tokenBody } from '../helpers/fake-provider.js';
import { storeConformance } from 'tokenbroker/testing';
import { managerConformance, sampleToken } from '../stores/conformance.js';
import { skipWithoutTopologies, startRedisCluster, type RedisClusterHandle } from './topology.js';

const skip = skipWithoutTopologies('test/redis/cluster.test.ts');
let cluster: RedisClusterHandle;
let prefixes = 0;
const nextPrefix = () => `cluster-${process.pid}-${++prefixes}:`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A credential whose token requests are counted; the same `clientId` means the same cache key. */
function countedProvider(clientId: string, counts: Map<string, number>): Provider {
  return defineProvider({
    kind: 'counted',
    tokenUrl: 'https://auth.example.test/oauth/token',
    clientId,
    clientSecret: 'cluster-secret',
    async requestToken() {
      counts.set(clientId, (counts.get(clientId) ?? 0) + 1);
      await sleep(100); // in flight long enough for every manager to be asking at once
      return tokenBody();
    },
  });
}

const FALLBACK = "shared store unavailable; falling back to this process's cache until it answers again";

describe.skipIf(skip)('redisStore on Redis Cluster', () => {
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(async () => {
    await cluster?.close();
  });

  storeConformance({
    name: 'redisStore({ cluster }): store conformance',
    create: (namespace) => redisStore({ cluster: cluster.nodes, keyPrefix: `${namespace}:` }),
    it,
    describe,
  });

  managerConformance('redisStore({ cluster })', () => redisStore({ cluster: cluster.nodes, keyPrefix: nextPrefix() }));

  it('puts every name of one credential in one slot, and spreads credentials over the masters', async () => {
    const raw = cluster.client();
    const owners = new Set<number>();
    for (let i = 0; i < 12; i++) {
      const names = namesFor('tokenbroker:', `credential-${i}`);
      const slots = await Promise.all(Object.values(names).map((name) => raw.cluster('KEYSLOT', name)));
      expect(new Set(slots).size).toBe(1);
      owners.add(await cluster.ownerOf(names.token));
    }
    expect(owners.size).toBe(3);
  });

  it('wakes a waiter through a sharded notification (SSUBSCRIBE), not by polling', async () => {
    const keyPrefix = nextPrefix();
    const holder = redisStore({ cluster: cluster.nodes, keyPrefix });
    const waiter = redisStore({ cluster: cluster.nodes, keyPrefix, pollIntervalMs: 20_000 });
    try {
      const owner = await holder.acquireLock('n', 10_000);
      expect(owner).toBeDefined();
      const started = Date.now();
      const waiting = waiter.waitForToken('n', 15_000, new AbortController().signal);
      await sleep(500); // the sharded subscription is in place
      const token = sampleToken();
      await holder.set('n', token, 60_000);
      expect((await waiting)?.accessToken).toBe(token.accessToken);
      expect(Date.now() - started).toBeLessThan(5_000);
      await holder.releaseLock('n', owner!);
    } finally {
      await Promise.all([holder.close(), waiter.close()]);
    }
  });

  it('3 managers on { client: new Cluster(…) }, 300 concurrent cold calls each → exactly 1 token request, no fallback', async () => {
    const counts = new Map<string, number>();
    const keyPrefix = nextPrefix();
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (_: unknown, message: string) => warnings.push(message) };
    const clients = [0, 1, 2].map(() => new Cluster(cluster.nodes));
    const managers = clients.map((client) =>
      createTokenManager({ providers: { p: countedProvider('shared', counts) }, store: redisStore({ client, keyPrefix }), retry: { attempts: 1 }, logger }),
    );
    try {
      const results = await Promise.all(managers.flatMap((tokens) => Array.from({ length: 300 }, () => tokens.getToken('p'))));
      expect(new Set(results.map((token) => token.accessToken)).size).toBe(1);
      expect(counts.get('shared')).toBe(1);
      expect(warnings).not.toContain(FALLBACK);
    } finally {
      await Promise.all(managers.map((tokens) => tokens.close()));
      for (const client of clients) client.disconnect();
    }
  });

  it('a resharding under steady traffic: callers keep getting tokens, at most 1 extra request per credential', { timeout: 90_000 }, async () => {
    const counts = new Map<string, number>();
    const keyPrefix = nextPrefix();
    const credentials = Array.from({ length: 6 }, (_, i) => `reshard-${i}`);
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (_: unknown, message: string) => warnings.push(message) };
    const managerOn = () =>
      createTokenManager({
        providers: Object.fromEntries(credentials.map((id) => [id, countedProvider(id, counts)])),
        store: redisStore({ cluster: cluster.nodes, keyPrefix }),
        retry: { attempts: 1 },
        logger,
      });
    const steady: TokenManager[] = [managerOn(), managerOn(), managerOn()];
    const errors: unknown[] = [];
    let calls = 0;
    let joined = 0;
    let running = true;
    try {
      await Promise.all(steady.flatMap((tokens) => credentials.map((id) => tokens.getToken(id))));
      expect([...counts.values()]).toEqual(Array(credentials.length).fill(1));

      // Steady traffic: warm calls on the running managers, and a new process joining every 100 ms,
      // whose cold calls go to the cluster while its slots move.
      const warm = (async () => {
        while (running) {
          for (const tokens of steady)
            for (const id of credentials)
              await tokens.getToken(id).then(
                () => calls++,
                (error: unknown) => errors.push(error),
              );
          await sleep(10);
        }
      })();
      const joining = (async () => {
        while (running) {
          const tokens = managerOn();
          await Promise.all(
            credentials.map((id) =>
              tokens.getToken(id).then(
                () => calls++,
                (error: unknown) => errors.push(error),
              ),
            ),
          );
          await tokens.close();
          joined++;
          await sleep(100);
        }
      })();

      // Move every slot of the master holding the first credential, keys included, to another master.
      const source = await ownerOfCredential(credentials[0]!);
      const target = cluster.nodes.map((node) => node.port).find((port) => port !== source)!;
      const started = Date.now();
      await cluster.reshard(source, target, 5_461);
      const reshardMs = Date.now() - started;
      await sleep(1_000); // traffic after the move, on the new owner
      running = false;
      await Promise.all([warm, joining]);
      console.info(
        `[cluster] reshard of 5461 slots took ${reshardMs} ms; ${calls} calls, ${joined} processes joined, requests per credential ${JSON.stringify(Object.fromEntries(counts))}`,
      );
      expect(errors).toEqual([]);
      expect(joined).toBeGreaterThan(3);
      for (const id of credentials) expect(counts.get(id)).toBeLessThanOrEqual(2);
      expect(await ownerOfCredential(credentials[0]!)).toBe(target);
    } finally {
      running = false;
      await Promise.all(steady.map((tokens) => tokens.close()));
    }

    async function ownerOfCredential(id: string): Promise<number> {
      const key = countedProvider(id, new Map()).cacheKey;
      return cluster.ownerOf(namesFor(keyPrefix, key).token);
    }
  });

  // Last in this file: it kills a master.
  it('a master down: warm calls from memory, cold ones fall back within the timeout, one warning', { timeout: 60_000 }, async () => {
    const counts = new Map<string, number>();
    const keyPrefix = nextPrefix();
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (_: unknown, message: string) => warnings.push(message) };
    const managers = [0, 1].map(() =>
      createTokenManager({
        providers: { p: countedProvider('node-down', counts) },
        store: redisStore({ cluster: cluster.nodes, keyPrefix, commandTimeoutMs: 500 }),
        timeoutMs: 2_000,
        retry: { attempts: 1 },
        logger,
      }),
    );
    try {
      const [first] = await Promise.all(managers.map((tokens) => tokens.getToken('p')));
      expect(counts.get('node-down')).toBe(1);
      const key = countedProvider('node-down', new Map()).cacheKey;
      await cluster.kill(await cluster.ownerOf(namesFor(keyPrefix, key).token));
      const timed = async (run: () => Promise<unknown>) => {
        const started = Date.now();
        await run();
        return Date.now() - started;
      };
      const warm = await Promise.all(managers.map((tokens) => timed(() => tokens.getToken('p'))));
      expect(Math.max(...warm)).toBeLessThan(100);
      for (const tokens of managers) tokens.invalidate('p', first!.accessToken);
      const cold = await Promise.all(managers.map((tokens) => timed(() => tokens.getToken('p'))));
      console.info(`[cluster] master down: warm ${Math.max(...warm)} ms, cold (fallback) slowest ${Math.max(...cold)} ms, ${counts.get('node-down')} requests`);
      expect(Math.max(...cold)).toBeLessThan(2_000);
      expect(warnings).toContain(FALLBACK);
    } finally {
      await Promise.all(managers.map((tokens) => tokens.close()));
    }
  });
});
