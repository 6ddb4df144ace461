/**
 * The Redis store against the store conformance suite (`tokenbroker/testing`), and what only Redis
 * does: the pub/sub wake-up, unreadable values, the user's own client, and staying out of the caller's
 * way when Redis is gone.
 */
import { createHash, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenManager, type SharedTokenStore } from '../../src/index.js';
import { redisStore } from '../../src/stores/redis/index.js';
import { fakeProvider } from '../helpers/fake-provider.js';
import { storeConformance } from 'tokenbroker/testing';
import { managerConformance, sampleToken } from '../stores/conformance.js';
import { freePort, skipWithoutRedis, startRedisServer, type RedisServer } from './redis-server.js';

const skip = skipWithoutRedis('test/redis/store.test.ts');
let server: RedisServer;
let prefixes = 0;
const nextPrefix = () => `test-${process.pid}-${++prefixes}:`;

describe.skipIf(skip)('redisStore', () => {
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  storeConformance({ name: 'redisStore: store conformance', create: (namespace) => redisStore({ url: server.url, keyPrefix: `${namespace}:` }), it, describe });

  managerConformance('redisStore', () => redisStore({ url: server.url, keyPrefix: nextPrefix() }));

  // Locks and waits as every shared store does them are the conformance suite's; this is Redis's own wake-up.
  describe('waitForToken', () => {
    let a: SharedTokenStore;
    let b: SharedTokenStore;
    let keyPrefix: string;
    beforeAll(() => {
      keyPrefix = nextPrefix();
      // Long polling: a prompt answer can only come from the notification.
      a = redisStore({ url: server.url, keyPrefix, pollIntervalMs: 10_000 });
      b = redisStore({ url: server.url, keyPrefix, pollIntervalMs: 10_000 });
    });
    afterAll(async () => {
      await Promise.all([a?.close(), b?.close()]);
    });

    it('learns of a token stored by another store through pub/sub, promptly', async () => {
      const owner = await a.acquireLock('w1', 5_000);
      expect(owner).toBeDefined();
      const started = Date.now();
      const waiting = b.waitForToken('w1', 8_000, new AbortController().signal);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const token = sampleToken();
      await a.set('w1', token, 60_000);
      expect((await waiting)?.accessToken).toBe(token.accessToken);
      expect(Date.now() - started).toBeLessThan(3_000);
      await a.releaseLock('w1', owner!);
    });
  });

  describe('stored values', () => {
    it('a malformed value is a miss with one warning per kind of damage, never a crash', async () => {
      const keyPrefix = nextPrefix();
      const warnings: unknown[] = [];
      const store = redisStore({ url: server.url, keyPrefix, logger: { warn: (object: unknown) => warnings.push(object) } });
      const raw = server.client();
      try {
        await store.set('m', sampleToken(), 60_000);
        const [key] = await raw.keys(`${keyPrefix}v2:{*}:token`);
        // Three kinds of damage ('[]' is the same kind as '{"v":1}'), each read twice: one warning a kind.
        for (const bad of ['not json', '{"v":1}', '{"v":1,"fp":"x","token":{"accessToken":5}}', '[]']) {
          await raw.set(key!, bad);
          expect(await store.get('m')).toBeUndefined();
          expect(await store.get('m')).toBeUndefined();
        }
        expect(warnings).toEqual([
          { store: 'redis', reason: 'stored value is not JSON' },
          { store: 'redis', reason: 'stored value has an unknown shape' },
          { store: 'redis', reason: 'stored token has an invalid shape' },
        ]);
        expect(JSON.stringify(warnings)).not.toContain('not json');
      } finally {
        await store.close();
      }
    });

    it('uses SET with a PX expiry equal to the given TTL', async () => {
      const keyPrefix = nextPrefix();
      const store = redisStore({ url: server.url, keyPrefix });
      const raw = server.client();
      try {
        await store.set('t', sampleToken(), 45_000);
        const [key] = await raw.keys(`${keyPrefix}v2:{*}:token`);
        const ttl = await raw.pttl(key!);
        expect(ttl).toBeGreaterThan(40_000);
        expect(ttl).toBeLessThanOrEqual(45_000);
      } finally {
        await store.close();
      }
    });
  });

  describe('connections', () => {
    it('with { client } it never closes the user client, but closes the subscriber it duplicated', async () => {
      const client = new Redis(server.port, '127.0.0.1');
      const keyPrefix = nextPrefix();
      const store = redisStore({ client, keyPrefix, pollIntervalMs: 50 });
      const other = redisStore({ url: server.url, keyPrefix });
      try {
        const owner = await other.acquireLock('c', 5_000);
        const waiting = store.waitForToken('c', 5_000, new AbortController().signal);
        await new Promise((resolve) => setTimeout(resolve, 200));
        const token = sampleToken();
        await other.set('c', token, 60_000);
        expect((await waiting)?.accessToken).toBe(token.accessToken);
        await other.releaseLock('c', owner!);
        const before = Number((await client.info('clients')).match(/connected_clients:(\d+)/)![1]);
        await store.close();
        expect(client.status).toBe('ready');
        expect(await client.ping()).toBe('PONG');
        await new Promise((resolve) => setTimeout(resolve, 200));
        const after = Number((await client.info('clients')).match(/connected_clients:(\d+)/)![1]);
        expect(after).toBe(before - 1);
      } finally {
        await other.close();
        client.disconnect();
      }
    });

    it('fails fast when nothing listens: every call rejects within commandTimeoutMs', async () => {
      const port = await freePort();
      const store = redisStore({ url: `redis://:hunter2-password@127.0.0.1:${port}`, commandTimeoutMs: 300 });
      try {
        for (const call of [
          () => store.get('x'),
          () => store.set('x', sampleToken(), 1_000),
          () => store.acquireLock('x', 1_000),
          () => Promise.resolve(store.ledger.reserve('x', Date.now(), 1, 1_000)),
          () => store.waitForToken('x', 5_000, new AbortController().signal),
        ]) {
          const started = Date.now();
          const error: unknown = await call().then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error).toBeInstanceOf(Error);
          expect(String((error as Error).message)).not.toContain('hunter2');
          expect(Date.now() - started).toBeLessThan(1_500);
        }
      } finally {
        await store.close();
      }
    });

    it('after close() calls reject at once and nothing keeps the process alive', async () => {
      const store = redisStore({ url: server.url, keyPrefix: nextPrefix() });
      await store.get('x');
      await store.close();
      await expect(store.get('x')).rejects.toThrow(/closed/);
      await store.close();
    });
  });

  describe('key layout', () => {
    it('ignores a 0.1.0 store on the same Redis and prefix: a fresh token, no wait on its lock, its budget apart', async () => {
      const keyPrefix = nextPrefix();
      const fake = fakeProvider();
      const id = createHash('sha256').update(fake.provider.cacheKey, 'utf8').digest('base64url');
      const raw = server.client();
      // What 0.1.0 wrote for this credential: a token in its envelope, a held lock, a spent ledger, a channel.
      const now = Date.now();
      const oldToken = { accessToken: 'token-of-the-old-layout', tokenType: 'Bearer', issuedAt: now, expiresAt: now + 3_600_000 };
      await raw.set(`${keyPrefix}token:${id}`, JSON.stringify({ v: 1, fp: 'x', token: oldToken }), 'PX', 60_000);
      await raw.set(`${keyPrefix}lock:${id}`, 'an-old-process', 'PX', 60_000);
      for (let i = 0; i < 10; i++) await raw.zadd(`${keyPrefix}ledger:${id}`, now, `old-${i}`);
      // A value of the wrong type where a careless layout could look, too.
      await raw.hset(`${keyPrefix}stored:${id}`, 'x', '1');
      const tokens = createTokenManager({
        providers: { p: fake.provider },
        store: redisStore({ url: server.url, keyPrefix }),
        retry: { attempts: 1 },
        guard: { maxTokens: 2 },
      });
      try {
        const started = Date.now();
        const token = await tokens.getToken('p');
        expect(token.accessToken).not.toBe(oldToken.accessToken);
        expect(fake.calls()).toBe(1);
        expect(Date.now() - started).toBeLessThan(2_000); // never waited on the old lock
        // The new layout's own budget: the old ledger's 10 entries do not count.
        await tokens.getToken('p', { forceRefresh: true });
        expect(fake.calls()).toBe(2);
        // The old keys are left as they were, for 0.1.0 processes still running.
        expect(await raw.get(`${keyPrefix}lock:${id}`)).toBe('an-old-process');
        expect(await raw.zcard(`${keyPrefix}ledger:${id}`)).toBe(10);
        const layout = (await raw.keys(`${keyPrefix}*`)).filter((key) => key.startsWith(`${keyPrefix}v2:`));
        expect(layout.sort()).toEqual([`${keyPrefix}v2:{${id}}:ledger`, `${keyPrefix}v2:{${id}}:token`]);
      } finally {
        await tokens.close();
      }
    });
  });

  describe('one clock', () => {
    it("the ledger counts by the server's clock: callers 5 minutes behind and ahead share one budget", async () => {
      const keyPrefix = nextPrefix();
      const behind = redisStore({ url: server.url, keyPrefix });
      const ahead = redisStore({ url: server.url, keyPrefix });
      try {
        const fiveMinutes = 5 * 60_000;
        const window = 60_000;
        const first = await behind.ledger.reserve('k', Date.now() - fiveMinutes, 2, window);
        const second = await ahead.ledger.reserve('k', Date.now() + fiveMinutes, 2, window);
        expect([first.allowed, second.allowed]).toEqual([true, true]);
        // By its own clock the caller ahead would see both entries as 5 minutes old, outside the window.
        const third = await ahead.ledger.reserve('k', Date.now() + fiveMinutes, 2, window);
        const fourth = await behind.ledger.reserve('k', Date.now() - fiveMinutes, 2, window);
        expect(third.allowed).toBe(false);
        expect(fourth.allowed).toBe(false);
        if (third.allowed) throw new Error('unreachable');
        expect(third.retryAfterMs).toBeGreaterThan(window - 5_000);
        expect(third.retryAfterMs).toBeLessThanOrEqual(window);
      } finally {
        await Promise.all([behind.close(), ahead.close()]);
      }
    });
  });

  it('inspect and JSON show neither the URL password nor an encryption key', () => {
    const key = randomBytes(32).toString('base64');
    const store = redisStore({ url: `redis://user:s3cret-pass@127.0.0.1:${server.port}/0?password=other-secret`, encryptionKeys: [key] });
    try {
      const shown = `${inspect(store, { depth: 10, showHidden: true })} ${JSON.stringify(store)} ${inspect(store.ledger)} ${JSON.stringify(store.ledger)}`;
      expect(shown).not.toContain('s3cret-pass');
      expect(shown).not.toContain('other-secret');
      expect(shown).not.toContain(key);
      expect(shown).toContain('encrypted');
    } finally {
      void store.close();
    }
  });
});
