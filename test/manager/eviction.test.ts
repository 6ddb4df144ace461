/**
 * The memory store is bounded by `max`: past it the least recently used credential's token is dropped,
 * a warm hit never serves a dropped entry, and the dropped credential is simply fetched again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenManager, defineProvider, memoryStore, type TokenManager } from '../../src/index.js';
import { fakeProvider } from '../helpers/fake-provider.js';

describe('bounded memory store', () => {
  let tokens: TokenManager | undefined;
  afterEach(async () => tokens?.close());

  it('evicts the least recently used credential and fetches it again when next needed', async () => {
    const fakes = [0, 1, 2].map(() => fakeProvider());
    const providers = fakes.map((fake, i) =>
      defineProvider({
        kind: 'fake',
        tokenUrl: 'https://t.test/token',
        clientId: `c${i}`,
        clientSecret: 's',
        requestToken: (ctx) => fake.provider.requestToken(ctx),
      }),
    );
    const store = memoryStore({ max: 2 });
    tokens = createTokenManager({ providers: { a: providers[0]!, b: providers[1]!, c: providers[2]! }, store });
    const a1 = await tokens.getToken('a');
    await tokens.getToken('b');
    await tokens.getToken('c'); // evicts a
    expect(store.size).toBe(2);
    const a2 = await tokens.getToken('a');
    expect(a2.accessToken).not.toBe(a1.accessToken);
    expect(fakes.map((fake) => fake.calls())).toEqual([2, 1, 1]);
    // b was evicted by a's return; c is still warm.
    await tokens.getToken('c');
    expect(fakes[2]!.calls()).toBe(1);
  });

  it('thousands of run-time credentials stay within max, and each still works', async () => {
    const store = memoryStore({ max: 100 });
    tokens = createTokenManager({ store });
    for (let i = 0; i < 2_000; i++) {
      tokens.register(
        `tenant-${i}`,
        defineProvider({
          kind: 'fake',
          tokenUrl: 'https://t.test/token',
          clientId: `tenant-${i}`,
          clientSecret: 's',
          requestToken: async () => ({ body: { access_token: `tok-${i}`, token_type: 'Bearer', expires_in: 3600 } }),
        }),
      );
      expect((await tokens.getToken(`tenant-${i}`)).accessToken).toBe(`tok-${i}`);
    }
    expect(store.size).toBe(100);
    expect(tokens.unregister('tenant-0')).toBe(true);
    await expect(tokens.getToken('tenant-0')).rejects.toThrow(/No provider is registered as "tenant-0"/);
  });

  it('after close(), even a warm token is refused (the warm path trusts only live entries)', async () => {
    const local = createTokenManager({ providers: { a: fakeProvider().provider } });
    await local.getToken('a');
    await local.close();
    await expect(local.getToken('a')).rejects.toThrow(/closed/);
  });

  it('after invalidate(), the warm path does not serve the dropped token', async () => {
    const fake = fakeProvider();
    tokens = createTokenManager({ providers: { a: fake.provider } });
    const first = await tokens.getToken('a');
    expect(tokens.invalidate('a', first.accessToken)).toBe(true);
    expect((await tokens.getToken('a')).accessToken).not.toBe(first.accessToken);
    expect(fake.calls()).toBe(2);
  });
});
