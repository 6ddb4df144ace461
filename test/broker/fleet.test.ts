/**
 * Two broker instances on one Redis serve many consumers, all cold and at once, with exactly one
 * upstream token request per provider (counted by the emulator). /readyz PINGs Redis. Skipped, loudly,
 * when redis-server is not installed.
 */
import { startEmulator, type Emulator } from 'tokenbroker/emulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, keyDigest, type Broker, type ConsumerConfig } from '../../src/apps/broker/index.js';
import { skipWithoutRedis, startRedisServer, type RedisServer } from '../redis/redis-server.js';
import { baseConfig, ENV } from './helpers.js';

const skip = skipWithoutRedis('broker fleet');
const CONSUMERS = 40;
const keyOf = (i: number) => `tbk_fleet_consumer_${i}_c0ffee${i * 7919}`;

describe.skipIf(skip)('two brokers on one Redis', () => {
  let redis: RedisServer;
  let emulator: Emulator;
  const brokers: Broker[] = [];
  const urls: string[] = [];
  const opsUrls: string[] = [];
  const logs: string[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    // A slow token endpoint, so every consumer's first request arrives while the one fetch is under way.
    emulator = await startEmulator({ ban: false, alternativePaymentsRateLimitPerSecond: 0, latencyMs: 200 });
    const consumers: ConsumerConfig[] = Array.from({ length: CONSUMERS }, (_, i) => ({
      name: `service-${i}`,
      keySha256: keyDigest(keyOf(i)),
      providers: ['ap', 'autopay'],
    }));
    const env = { ...ENV, REDIS_URL: redis.url, TOKEN_KEYS: Buffer.alloc(32, 7).toString('base64') };
    for (let i = 0; i < 2; i++) {
      const broker = createBroker(
        baseConfig(emulator, { consumers, store: { type: 'redis', urlEnv: 'REDIS_URL', keyPrefix: 'fleet-test:', encryptionKeysEnv: 'TOKEN_KEYS' } }),
        { env, logDestination: { write: (line: string) => logs.push(line) } },
      );
      brokers.push(broker);
      urls.push(await broker.listen());
      opsUrls.push(broker.opsUrl!);
    }
  });

  afterAll(async () => {
    for (const broker of brokers) await broker.close();
    await emulator?.close();
    await redis?.close();
  });

  it('/readyz reports Redis reachable', async () => {
    for (const url of urls) {
      const response = await fetch(`${opsUrls[urls.indexOf(url)]}/readyz`);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ status: 'ready', checks: { store: 'reachable' } });
    }
  });

  it('many consumers on both brokers, cold and concurrent: exactly 1 upstream token request per provider', async () => {
    const requests: Array<Promise<{ status: number; token: string }>> = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < CONSUMERS; i++) {
        for (const provider of ['ap', 'autopay']) {
          const url = urls[(i + round) % 2]!;
          requests.push(
            fetch(`${url}/v1/tokens/${provider}`, { headers: { 'x-api-key': keyOf(i) } }).then(async (response) => ({
              status: response.status,
              token: `${provider}:${((await response.json()) as { access_token: string }).access_token}`,
            })),
          );
        }
      }
    }
    const answers = await Promise.all(requests);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(new Set(answers.map((a) => a.token)).size).toBe(2);
    const stats = emulator.stats();
    expect(stats.providers['alternative-payments'].tokenRequests).toBe(1);
    expect(stats.providers.autopay.tokenRequests).toBe(1);
    // And once more, warm, on both: still 1 each.
    for (const url of urls) {
      expect((await fetch(`${url}/v1/tokens/ap`, { headers: { 'x-api-key': keyOf(0) } })).status).toBe(200);
    }
    expect(emulator.stats().providers['alternative-payments'].tokenRequests).toBe(1);
  });

  it('/readyz says degraded (200) when Redis stops answering, while tokens are still served', async () => {
    redis.pause();
    try {
      const started = Date.now();
      const response = await fetch(`${opsUrls[0]}/readyz`);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ status: 'degraded', checks: { store: 'unreachable' } });
      expect(Date.now() - started).toBeLessThan(3_000);
      expect((await fetch(`${urls[0]}/v1/tokens/ap`, { headers: { 'x-api-key': keyOf(0) } })).status).toBe(200);
    } finally {
      redis.resume();
    }
    expect(logs.join('')).not.toContain(Buffer.alloc(32, 7).toString('base64'));
  });
});
