import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createTokenManager, ProviderUnavailableError, type TokenManager } from '../../src/index.js';
import { fakeProvider, tokenBody } from '../helpers/fake-provider.js';

const HOUR = 3_600_000;

describe('expiry and refresh-ahead (fake clock)', () => {
  let tokens: TokenManager | undefined;
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
  });
  afterEach(async () => {
    await tokens?.close();
    vi.useRealTimers();
  });

  it('refreshes exactly once in the background near expiry while callers keep the current token', async () => {
    let release: (() => void) | undefined;
    const fake = fakeProvider({
      fallback: () => () =>
        new Promise((resolve) => {
          release = () => resolve(tokenBody(3600));
        }),
    });
    tokens = createTokenManager({ providers: { p: fake.provider } });
    const first = tokens.getToken('p');
    await vi.advanceTimersByTimeAsync(0);
    release!();
    const current = await first;
    expect(fake.calls()).toBe(1);

    // Default refresh-ahead: 10 % of 3600 s = 360 s before expiry. Just before it: plain hits.
    await vi.advanceTimersByTimeAsync(HOUR - 361_000);
    expect((await tokens.getToken('p')).accessToken).toBe(current.accessToken);
    expect(fake.calls()).toBe(1);

    // Inside the refresh window: many callers, one background request, everyone keeps the current token.
    await vi.advanceTimersByTimeAsync(2_000);
    const during = await Promise.all(Array.from({ length: 500 }, () => tokens!.getToken('p')));
    await vi.advanceTimersByTimeAsync(0);
    expect(during.every((t) => t.accessToken === current.accessToken)).toBe(true);
    expect(fake.calls()).toBe(2);
    release!();
    await vi.advanceTimersByTimeAsync(0);
    const next = await tokens.getToken('p');
    expect(next.accessToken).not.toBe(current.accessToken);
    expect(fake.calls()).toBe(2);
    expect(tokens.stats().tokensIssued).toMatchObject({ coldStart: 1, refreshAhead: 1, total: 2 });
  });

  it('keeps serving the still-valid token when the background refresh fails, and retries later (not on every call)', async () => {
    const fake = fakeProvider();
    tokens = createTokenManager({ providers: { p: fake.provider }, retry: { attempts: 1 } });
    const current = await tokens.getToken('p');
    fake.queue(new ProviderUnavailableError('down'), new ProviderUnavailableError('down'));
    await vi.advanceTimersByTimeAsync(HOUR - 300_000); // inside the refresh window
    for (let i = 0; i < 100; i++) expect((await tokens.getToken('p')).accessToken).toBe(current.accessToken);
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.calls()).toBe(2); // one background attempt, not one per call
    for (let i = 0; i < 100; i++) expect((await tokens.getToken('p')).accessToken).toBe(current.accessToken);
    expect(fake.calls()).toBe(2);
    // The next try waits a pause; then it may succeed.
    await vi.advanceTimersByTimeAsync(61_000);
    await tokens.getToken('p');
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.calls()).toBe(3);
  });

  it('never returns an expired token: past expiry minus skew it fetches a new one', async () => {
    const fake = fakeProvider({ fallback: () => tokenBody(3600) });
    tokens = createTokenManager({ providers: { p: fake.provider }, refreshAhead: false });
    const first = await tokens.getToken('p');
    await vi.advanceTimersByTimeAsync(HOUR - 30_000); // exactly at expiry minus the 30 s skew
    const second = await tokens.getToken('p');
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(Date.now()).toBeLessThan(second.expiresAt);
    expect(tokens.stats().tokensIssued.expiry).toBe(1);
  });

  it('when the provider is down at expiry, callers get an error, never the expired token', async () => {
    const fake = fakeProvider({ fallback: () => tokenBody(3600) });
    tokens = createTokenManager({ providers: { p: fake.provider }, refreshAhead: false, retry: { attempts: 1 } });
    await tokens.getToken('p');
    fake.queue(new ProviderUnavailableError('down'));
    await vi.advanceTimersByTimeAsync(HOUR);
    await expect(tokens.getToken('p')).rejects.toBeInstanceOf(ProviderUnavailableError);
  });

  it('property: over random call times across many lifetimes, every token returned is unexpired at return', async () => {
    const fake = fakeProvider({ fallback: () => tokenBody(600) });
    tokens = createTokenManager({ providers: { p: fake.provider } });
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 2000; i++) {
      await vi.advanceTimersByTimeAsync(Math.floor(random() * 20_000));
      const token = await tokens.getToken('p');
      expect(Date.now()).toBeLessThan(token.expiresAt - 30_000 + 1);
    }
  });

  it('shrinks the margins for very short lifetimes so such tokens are still usable', async () => {
    const fake = fakeProvider({ fallback: () => tokenBody(20) });
    tokens = createTokenManager({ providers: { p: fake.provider } });
    await tokens.getToken('p');
    await vi.advanceTimersByTimeAsync(5_000);
    await tokens.getToken('p');
    expect(fake.calls()).toBe(1);
  });

  it('a failed background refresh close to the end never stretches service past expiry minus skew', async () => {
    const fake = fakeProvider({ fallback: () => tokenBody(3600) });
    // Refresh-ahead starts 400 ms before the usable life ends, so the retry pause (≥ 1 s) overshoots it.
    tokens = createTokenManager({ providers: { p: fake.provider }, retry: { attempts: 1 }, skewMs: 30_000, refreshAhead: { ratio: 0, minMs: 30_400 } });
    const first = await tokens.getToken('p');
    fake.queue(new ProviderUnavailableError('down'), new ProviderUnavailableError('down'));
    await vi.advanceTimersByTimeAsync(HOUR - 30_400);
    expect((await tokens.getToken('p')).accessToken).toBe(first.accessToken); // starts the background refresh
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.calls()).toBe(2);
    await vi.advanceTimersByTimeAsync(500); // now 100 ms past expiry minus skew
    const after = await tokens.getToken('p').catch((e: unknown) => e);
    expect(after).not.toMatchObject({ accessToken: first.accessToken });
  });
});
