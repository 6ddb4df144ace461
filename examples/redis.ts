/**
 * Several processes, one token: two managers (standing in for two processes) share tokens, the lock
 * and the issuance budget through Redis, so the provider sees one token request between them.
 *
 * REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/redis.ts
 * Runs against the built-in emulator; it needs a Redis server (apt-get install redis-server).
 */
import { alternativePayments, createTokenManager } from 'tokenbroker';
import { redisStore } from 'tokenbroker/redis';
import { SAMPLE_CLIENTS, startEmulator } from 'tokenbroker/emulator';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const emulator = await startEmulator();
const [sample] = SAMPLE_CLIENTS;

// What each process would do at start-up: its own manager, the same Redis and key prefix.
const startProcess = () =>
  createTokenManager({
    providers: {
      ap: alternativePayments({ clientId: sample.clientId, clientSecret: sample.clientSecret, baseUrl: emulator.alternativePaymentsBaseUrl }),
    },
    store: redisStore({ url, keyPrefix: `example-${process.pid}:` }),
  });
const first = startProcess();
const second = startProcess();

try {
  const [a, b] = await Promise.all([
    Promise.all(Array.from({ length: 500 }, () => first.getToken('ap'))),
    Promise.all(Array.from({ length: 500 }, () => second.getToken('ap'))),
  ]);
  const distinct = new Set([...a, ...b].map((token) => token.accessToken)).size;
  const requests = emulator.stats().providers['alternative-payments'].tokenRequests;
  console.log(`1,000 calls from two managers → ${distinct} token, ${requests} token request to the provider`);
} finally {
  await first.close(); // closes the Redis connections it opened
  await second.close();
  await emulator.close();
}
