/**
 * The Redis store through Redis Sentinel (issue 13): the conformance suites, and the master killed under
 * traffic — failover, no caller waiting past its timeout, at most 2 token requests per credential, and
 * sharing resumed on the new master. Real processes on loopback: a master, a replica, three sentinels.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenManager, defineProvider, type Provider, type TokenManager } from '../../src/index.js';
import { namesFor } from '../../src/stores/redis/keys.js';
import { redisStore } from '../../src/stores/redis/index.js';
import { tokenBody } from '../helpers/fake-provider.js';
import { storeConformance } from 'tokenbroker/testing';
import { managerConformance } from '../stores/conformance.js';
import { skipWithoutTopologies, startRedisSentinel, type RedisSentinelHandle } from './topology.js';

const skip = skipWithoutTopologies('test/redis/sentinel.test.ts');
let sentinel: RedisSentinelHandle;
let prefixes = 0;
const nextPrefix = () => `sentinel-${process.pid}-${++prefixes}:`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const TIMEOUT_MS = 2_000;

function countedProvider(clientId: string, counts: Map<string, number>): Provider {
  return defineProvider({
    kind: 'counted',
    tokenUrl: 'https://auth.example.test/oauth/token',
    clientId,
    clientSecret: 'sentinel-secret',
    async requestToken() {
      counts.set(clientId, (counts.get(clientId) ?? 0) + 1);
      await sleep(50);
      return tokenBody();
    },
  });
}

describe.skipIf(skip)('redisStore through Redis Sentinel', () => {
  beforeAll(async () => {
    sentinel = await startRedisSentinel();
  }, 60_000);
  afterAll(async () => {
    await sentinel?.close();
  });

  const connection = () => ({ sentinels: sentinel.sentinels, name: sentinel.name });

  storeConformance({
    name: 'redisStore({ sentinels }): store conformance',
    create: (namespace) => redisStore({ ...connection(), keyPrefix: `${namespace}:` }),
    it,
    describe,
  });

  managerConformance('redisStore({ sentinels })', () => redisStore({ ...connection(), keyPrefix: nextPrefix() }));

  // Last in this file: it kills the master.
  it('the master killed under traffic → failover, no caller past its timeout, ≤ 2 requests per credential, sharing resumes', { timeout: 90_000 }, async () => {
    const counts = new Map<string, number>();
    const keyPrefix = nextPrefix();
    const credentials = ['ap-1', 'ap-2', 'ap-3'];
    const after = 'after-failover'; // first asked for on the new master
    const managers: TokenManager[] = [];
    const managerOn = () => {
      const tokens = createTokenManager({
        providers: Object.fromEntries([...credentials, after].map((id) => [id, countedProvider(id, counts)])),
        store: redisStore({ ...connection(), keyPrefix, commandTimeoutMs: 500 }),
        timeoutMs: TIMEOUT_MS,
        retry: { attempts: 1 },
      });
      managers.push(tokens);
      return tokens;
    };
    const durations: number[] = [];
    const errors: unknown[] = [];
    const timed = async (tokens: TokenManager, id: string) => {
      const started = Date.now();
      try {
        return (await tokens.getToken(id)).accessToken;
      } catch (error) {
        errors.push(error);
        return undefined;
      } finally {
        durations.push(Date.now() - started);
      }
    };
    try {
      const running = [managerOn(), managerOn(), managerOn()];
      const first = await Promise.all(running.flatMap((tokens) => credentials.map((id) => timed(tokens, id))));
      expect(new Set(first).size).toBe(credentials.length);
      const original = new Map(credentials.map((id, i) => [id, first[i]]));
      // The tokens reached the replica (asynchronous replication), as they would long before a failure.
      const oldMaster = await sentinel.masterPort();
      const probe = sentinel.client(oldMaster);
      await probe.wait(1, 2_000);

      let traffic = true;
      const warm = (async () => {
        while (traffic) {
          await Promise.all(running.flatMap((tokens) => credentials.map((id) => timed(tokens, id))));
          await sleep(20);
        }
      })();

      await sentinel.killMaster();
      const killedAt = Date.now();
      // A process starting during the outage: its cold calls fall back to its own fetch, within the timeout.
      const duringOutage = managerOn();
      await Promise.all(credentials.map((id) => timed(duringOutage, id)));

      let newMaster = oldMaster;
      while (newMaster === oldMaster) {
        if (Date.now() - killedAt > 30_000) throw new Error('no failover within 30 s');
        await sleep(200);
        newMaster = await sentinel.masterPort().catch(() => oldMaster);
      }
      const failoverMs = Date.now() - killedAt;

      // Processes starting after the failover share again, on the new master: the replicated tokens,
      // and one request for a credential nobody asked for before.
      const fresh = [managerOn(), managerOn()];
      const resumed = await Promise.all(fresh.flatMap((tokens) => credentials.map(async (id) => [id, await timed(tokens, id)] as const)));
      const afterTokens = await Promise.all(fresh.flatMap((tokens) => Array.from({ length: 50 }, () => timed(tokens, after))));
      traffic = false;
      await warm;

      const slowest = Math.max(...durations);
      console.info(
        `[sentinel] failover in ${failoverMs} ms (${oldMaster} → ${newMaster}); ${durations.length} calls, slowest ${slowest} ms (timeout ${TIMEOUT_MS}); requests ${JSON.stringify(Object.fromEntries(counts))}`,
      );
      expect(errors).toEqual([]);
      expect(slowest).toBeLessThan(TIMEOUT_MS);
      for (const id of credentials) expect(counts.get(id)).toBeLessThanOrEqual(2);
      for (const [id, accessToken] of resumed) expect(accessToken).toBe(original.get(id));
      expect(new Set(afterTokens).size).toBe(1);
      expect(counts.get(after)).toBe(1);
      const stored = await sentinel.client(newMaster).exists(namesFor(keyPrefix, countedProvider(after, new Map()).cacheKey).token);
      expect(stored).toBe(1);
    } finally {
      await Promise.all(managers.map((tokens) => tokens.close()));
    }
  });
});
