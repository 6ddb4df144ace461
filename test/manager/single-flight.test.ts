import { afterEach, describe, expect, it } from 'vitest';
import { createTokenManager, type TokenManager } from '../../src/index.js';
import { fakeProvider, tokenBody } from '../helpers/fake-provider.js';

describe('single-flight', () => {
  let tokens: TokenManager | undefined;
  afterEach(async () => tokens?.close());

  it('serves 10,000 concurrent cold calls with exactly one token request', async () => {
    const fake = fakeProvider({
      fallback: () => async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return tokenBody();
      },
    });
    tokens = createTokenManager({ providers: { p: fake.provider } });
    const results = await Promise.all(Array.from({ length: 10_000 }, () => tokens!.getToken('p')));
    expect(fake.calls()).toBe(1);
    expect(new Set(results.map((t) => t.accessToken)).size).toBe(1);
    const stats = tokens.stats();
    expect(stats.requestsSent).toBe(1);
    expect(stats.tokensIssued.coldStart).toBe(1);
    expect(stats.misses + stats.deduplicated).toBeGreaterThanOrEqual(10_000);
    // Warm calls afterwards are hits and send nothing.
    await Promise.all(Array.from({ length: 1000 }, () => tokens!.getToken('p')));
    expect(fake.calls()).toBe(1);
    expect(tokens.stats().hits).toBeGreaterThanOrEqual(1000);
  });

  it('returns the same already-resolved promise on warm hits (no allocation per call)', async () => {
    const fake = fakeProvider();
    tokens = createTokenManager({ providers: { p: fake.provider } });
    await tokens.getToken('p');
    expect(tokens.getToken('p')).toBe(tokens.getToken('p'));
  });

  it('shares one failure among concurrent callers', async () => {
    const fake = fakeProvider({ fallback: () => new Error('boom') });
    tokens = createTokenManager({ providers: { p: fake.provider }, retry: { attempts: 1 } });
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => tokens!.getToken('p')));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(fake.calls()).toBe(1);
  });

  it('a caller that aborts stops waiting without cancelling the shared request', async () => {
    let release!: () => void;
    const fake = fakeProvider({
      fallback: () => () => new Promise((resolve) => (release = () => resolve(tokenBody()))),
    });
    tokens = createTokenManager({ providers: { p: fake.provider } });
    const controller = new AbortController();
    const impatient = tokens.getToken('p', { signal: controller.signal });
    const patient = tokens.getToken('p');
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(new Error('caller gave up'));
    await expect(impatient).rejects.toThrow('caller gave up');
    release();
    await expect(patient).resolves.toMatchObject({ tokenType: 'Bearer' });
    expect(fake.calls()).toBe(1);
  });
});
