import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createTokenManager, IssuanceLimitError, type TokenManager } from '../../src/index.js';
import { fakeProvider, tokenBody } from '../helpers/fake-provider.js';

describe('issuance guard', () => {
  let tokens: TokenManager | undefined;
  beforeEach(() => vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') }));
  afterEach(async () => {
    await tokens?.close();
    vi.useRealTimers();
  });

  it('a forceRefresh loop never gets past the budget, and keeps getting the valid token', async () => {
    const fake = fakeProvider();
    tokens = createTokenManager({ providers: { p: fake.provider } });
    for (let i = 0; i < 1000; i++) {
      const token = await tokens.getToken('p', { forceRefresh: true });
      expect(Date.now()).toBeLessThan(token.expiresAt);
    }
    expect(fake.calls()).toBe(6); // the documented default budget per token lifetime
    expect(tokens.stats().guardRefusals).toBe(994);
    expect(tokens.stats().tokensIssued.forced).toBe(6);
  });

  it('an invalidate loop never gets past the budget; spent with no valid token → IssuanceLimitError, no request sent', async () => {
    const fake = fakeProvider();
    tokens = createTokenManager({ providers: { p: fake.provider }, guard: { maxTokens: 3 } });
    let refused: unknown;
    for (let i = 0; i < 50; i++) {
      try {
        const token = await tokens.getToken('p');
        tokens.invalidate('p', token.accessToken);
      } catch (error) {
        refused = error;
        break;
      }
    }
    expect(fake.calls()).toBe(3);
    expect(refused).toBeInstanceOf(IssuanceLimitError);
    const error = refused as IssuanceLimitError;
    expect(error.code).toBe('issuance_limit');
    expect(error.provider).toBe('p');
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(error.retryAfterMs).toBeLessThanOrEqual(3_600_000);
    // Still refused without a request until the window moves on…
    await expect(tokens.getToken('p')).rejects.toBeInstanceOf(IssuanceLimitError);
    expect(fake.calls()).toBe(3);
    // …and allowed again once it has.
    await vi.advanceTimersByTimeAsync(error.retryAfterMs);
    await expect(tokens.getToken('p')).resolves.toMatchObject({ tokenType: 'Bearer' });
    expect(fake.calls()).toBe(4);
  });

  it('the default window follows the token lifetime: a day of 1-hour tokens is never refused', async () => {
    const fake = fakeProvider({ fallback: () => tokenBody(3600) });
    tokens = createTokenManager({ providers: { p: fake.provider } });
    for (let minute = 0; minute < 24 * 60; minute++) {
      await tokens.getToken('p');
      await vi.advanceTimersByTimeAsync(60_000);
    }
    expect(tokens.stats().guardRefusals).toBe(0);
    // Refresh at 90 % of each 1-hour life: 1 + floor(24 h / 54 min) tokens.
    expect(fake.calls()).toBe(1 + Math.floor((24 * 60) / 54));
  });

  it('respects a provider-reported quota of zero until its reset', async () => {
    const fake = fakeProvider();
    const resetAt = Date.now() + 120_000;
    fake.queue({ ...tokenBody(60), quota: { remaining: 0, resetAt } });
    tokens = createTokenManager({ providers: { p: fake.provider } });
    await tokens.getToken('p');
    await vi.advanceTimersByTimeAsync(61_000); // token expired
    const error = await tokens.getToken('p').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IssuanceLimitError);
    expect((error as IssuanceLimitError).retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(fake.calls()).toBe(1);
    await vi.advanceTimersByTimeAsync(60_000);
    await tokens.getToken('p');
    expect(fake.calls()).toBe(2);
  });

  it('failed requests do not use up the budget', async () => {
    const fake = fakeProvider({ fallback: () => new Error('down') });
    tokens = createTokenManager({ providers: { p: fake.provider }, retry: { attempts: 1 }, failureCooldownMs: 0, guard: { maxTokens: 2 } });
    for (let i = 0; i < 5; i++) await expect(tokens.getToken('p')).rejects.toThrow();
    fake.queue(tokenBody());
    await expect(tokens.getToken('p')).resolves.toMatchObject({ tokenType: 'Bearer' });
  });
});
