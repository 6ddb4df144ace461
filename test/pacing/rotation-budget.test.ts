/**
 * A rotated secret keeps the call budget. A provider counts its rate limit per client, whatever secret
 * got the token; tokenbroker moves a credential to a new cache key when its secret changes (a new token
 * identity), but its calls stay in the same budget (`budgetKeyOf`): no window in which two budgets let
 * twice the limit through. On the memory store and on SQLite (shared by the processes of a host).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenManager, defineProvider, InvalidCredentialsError, RateLimitedError, type TokenStore } from '../../src/index.js';
import { budgetKeyOf, credentialKey } from '../../src/providers/provider.js';
import { sqliteStore } from '../../src/stores/sqlite/index.js';

const OLD = 'budget-old-secret-Hq2!r';
const NEW = 'budget-new-secret-Tm8?y';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-rotation-budget-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('budgetKeyOf', () => {
  const key = (clientId: string, clientSecret: string) => credentialKey({ kind: 'my-bank', tokenUrl: 'https://auth.example/token', clientId, clientSecret });

  it('is the cache key without the secret: two secrets of one client share it, two clients do not', () => {
    expect(key('shop-1', OLD)).not.toBe(key('shop-1', NEW));
    expect(budgetKeyOf(key('shop-1', OLD))).toBe(budgetKeyOf(key('shop-1', NEW)));
    expect(budgetKeyOf(key('shop-1', OLD))).not.toBe(budgetKeyOf(key('shop-2', OLD)));
    expect(key('shop-1', OLD).startsWith(budgetKeyOf(key('shop-1', OLD)))).toBe(true);
  });

  it('leaves a cache key of any other shape as it is', () => {
    for (const custom of ['my-provider', 'a:b:c', `x:${'a'.repeat(22)}:${'b'.repeat(15)}`]) expect(budgetKeyOf(custom)).toBe(custom);
  });
});

describe.each([
  ['the memory store', () => undefined],
  ['SQLite', () => sqliteStore({ path: join(dir, `tokens-${Math.random().toString(36).slice(2)}.sqlite`) })],
] as [string, () => TokenStore | undefined][])('a rotated secret keeps the call budget (%s)', (_name, makeStore) => {
  it('slots taken with the old secret still count after the provider moved to its new cache key', async () => {
    let accepted = OLD;
    let current = OLD;
    let issued = 0;
    const provider = defineProvider({
      kind: 'paced-bank',
      tokenUrl: 'https://auth.paced-bank.example/token',
      clientId: 'shop-1',
      clientSecret: () => current,
      rateLimit: { requests: 2, perMs: 60_000 },
      requestToken: async ({ clientSecret }) => {
        if (clientSecret !== accepted) throw new InvalidCredentialsError('refused', { status: 401 });
        issued += 1;
        return { body: { access_token: `paced-bank-token-${issued}`, token_type: 'Bearer', expires_in: 900 } };
      },
    });
    const store = makeStore();
    const tokens = createTokenManager({ providers: { bank: provider }, maxWaitMs: 50, ...(store === undefined ? {} : { store }) });
    try {
      await tokens.getToken('bank');
      await tokens.acquire('bank');
      await tokens.acquire('bank');
      const before = provider.cacheKey;

      // The secret rotates; the next token request reads it and moves the credential to a new key.
      accepted = NEW;
      current = NEW;
      await expect(tokens.getToken('bank', { forceRefresh: true })).resolves.toMatchObject({ accessToken: 'paced-bank-token-2' });
      expect(provider.cacheKey).not.toBe(before);

      // The two slots of this window were taken with the old secret: the third call waits past maxWaitMs.
      await expect(tokens.acquire('bank')).rejects.toBeInstanceOf(RateLimitedError);
    } finally {
      await tokens.close();
    }
  });
});
