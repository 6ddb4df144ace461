/**
 * Expiry over real HTTP, without racing the clock: only `Date` is faked, and the emulator reads the
 * same clock, so tokenbroker and the "provider" agree on what time it is while sockets and timers
 * stay real.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import type { TokenManager } from '../../src/index.js';
import { emulatorCounts, joinClub, listCustomers, managerFor } from './helpers.js';

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const HOUR = 3_600_000;

let emulator: Emulator;
let tokens: TokenManager;

beforeEach(async () => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(T0);
  emulator = await startEmulator({ now: () => Date.now(), tokenLifetimeSeconds: { autopay: 600 }, alternativePaymentsApiRateLimitPerSecond: 0 });
  tokens = managerFor(emulator);
});
afterEach(async () => {
  await tokens.close();
  await emulator.close();
  vi.useRealTimers();
});

function advanceTo(ms: number): void {
  vi.setSystemTime(ms);
}

describe('expiry rollover (Alternative Payments, 1 h tokens)', () => {
  it('refreshes ahead once, in the background, while the current token stays in service', async () => {
    const first = await tokens.getToken('ap');
    expect(first.expiresAt).toBe(T0 + HOUR);
    expect(await listCustomers(tokens)).toBe(200);

    // 56 minutes in: inside the refresh-ahead lead (10 % of the lifetime = 6 min), before the 30 s skew.
    advanceTo(T0 + 56 * 60_000);
    const during = await Promise.all(Array.from({ length: 50 }, () => tokens.getToken('ap')));
    expect(new Set(during.map((token) => token.accessToken))).toEqual(new Set([first.accessToken]));

    await vi.waitFor(() => expect(tokens.stats().byProvider.ap!.tokensIssued.refreshAhead).toBe(1), { timeout: 5_000 });
    const second = await tokens.getToken('ap');
    expect(second.accessToken).not.toBe(first.accessToken);
    // (vi.waitFor nudges the faked clock by its polling interval.)
    expect(second.expiresAt - (T0 + 56 * 60_000 + HOUR)).toBeGreaterThanOrEqual(0);
    expect(second.expiresAt - (T0 + 56 * 60_000 + HOUR)).toBeLessThan(5_000);
    expect(emulatorCounts(emulator, 'alternative-payments').tokensIssued).toBe(2);
    expect(await listCustomers(tokens)).toBe(200);
  });

  it('after a quiet spell past expiry, the next call gets a new token (reason: expiry) and the old one is refused', async () => {
    const first = await tokens.getToken('ap');
    advanceTo(T0 + HOUR + 1_000);

    // The provider refuses the expired token…
    const stale = await fetch(`${emulator.alternativePaymentsBaseUrl}/customers`, { headers: { authorization: `Bearer ${first.accessToken}` } });
    expect(stale.status).toBe(401);
    // …and tokenbroker never serves it: the next call fetches a fresh one.
    expect(await listCustomers(tokens)).toBe(200);
    const stats = tokens.stats().byProvider.ap!;
    expect(stats.tokensIssued).toMatchObject({ total: 2, coldStart: 1, expiry: 1 });
    expect(stats.tokensIssued.invalidated).toBe(0);
    expect(emulatorCounts(emulator, 'alternative-payments').apiCalls.unauthorized).toBe(1);
  });

  it('a token is not served within the skew of its expiry', async () => {
    const first = await tokens.getToken('ap');
    advanceTo(first.expiresAt - 20_000); // inside the default 30 s skew
    const next = await tokens.getToken('ap');
    expect(next.accessToken).not.toBe(first.accessToken);
  });
});

describe('expiry rollover (Autopay, 10 min tokens)', () => {
  it('rolls over hour after hour with one token per lifetime, never a failed API call', async () => {
    for (let minute = 0; minute <= 60; minute += 1) {
      advanceTo(T0 + minute * 60_000);
      expect(await joinClub(tokens, emulator, `+47${40_000_000 + minute}`)).toBe(200);
      // Let a background refresh land before the clock moves on: a response received "a minute later"
      // than the emulator issued it would be trusted a minute too long.
      await vi.waitFor(() => {
        const stats = tokens.stats().byProvider.autopay!;
        expect(stats.requestsSent).toBe(stats.tokensIssued.total);
      });
    }
    const issued = tokens.stats().byProvider.autopay!.tokensIssued;
    // One per 10-minute lifetime (refreshed ahead, at most a minute early), never more.
    expect(issued.total).toBeGreaterThanOrEqual(6);
    expect(issued.total).toBeLessThanOrEqual(7);
    expect(issued.invalidated).toBe(0);
    const counts = emulatorCounts(emulator, 'autopay');
    expect(counts.apiCalls.unauthorized).toBe(0);
    expect(counts.tokensIssued).toBe(issued.total);
    expect(emulator.stats().bannedClients).toEqual([]);
  });
});
