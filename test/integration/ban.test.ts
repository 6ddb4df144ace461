/**
 * The ban for excessive token generation: a naive client (a token per request) triggers it; the same
 * traffic through tokenbroker never does — including a shortened run of the demo workload.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { checkSummary, runDemo, tokenBounds } from '../../demo/run-demo.js';
import { AP_CLIENT, AUTOPAY_CLIENT, emulatorCounts, joinClub, listCustomers, managerFor } from './helpers.js';

describe('the ban', () => {
  let emulator: Emulator;
  beforeAll(async () => {
    // The AP per-second limit off, so the naive AP client reaches the ban quickly.
    emulator = await startEmulator({ alternativePaymentsRateLimitPerSecond: 0, alternativePaymentsApiRateLimitPerSecond: 0 });
  });
  afterAll(() => emulator.close());
  beforeEach(() => emulator.reset());

  async function naiveAutopayCall(): Promise<{ token: number; api: number | undefined }> {
    const tokenResponse = await fetch(emulator.autopayTokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_id: AUTOPAY_CLIENT.clientId,
        client_secret: AUTOPAY_CLIENT.clientSecret,
        audience: 'https://api.autopay.io',
        grant_type: 'client_credentials',
      }),
    });
    if (tokenResponse.status !== 200) {
      await tokenResponse.body?.cancel();
      return { token: tokenResponse.status, api: undefined };
    }
    const { access_token } = (await tokenResponse.json()) as { access_token: string };
    const api = await fetch(`${emulator.autopayApiBaseUrl}/customer_club/v2/join`, {
      method: 'POST',
      headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ phone_number: '+4712345678' }),
    });
    await api.body?.cancel();
    return { token: 200, api: api.status };
  }

  async function naiveApCall(): Promise<{ token: number; api: number | undefined }> {
    const tokenResponse = await fetch(`${emulator.alternativePaymentsBaseUrl}/oauth/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${AP_CLIENT.clientId}:${AP_CLIENT.clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    });
    if (tokenResponse.status !== 200) {
      await tokenResponse.body?.cancel();
      return { token: tokenResponse.status, api: undefined };
    }
    const { access_token } = (await tokenResponse.json()) as { access_token: string };
    const api = await fetch(`${emulator.alternativePaymentsBaseUrl}/customers?limit=1`, { headers: { authorization: `Bearer ${access_token}` } });
    await api.body?.cancel();
    return { token: 200, api: api.status };
  }

  it.each([
    ['autopay', naiveAutopayCall, 'autopay-sample-client'],
    ['alternative-payments', naiveApCall, 'ap-sample-client'],
  ] as const)('a naive %s client that takes a token per request is banned after 20 tokens', async (provider, call, clientId) => {
    const results = [];
    for (let i = 0; i < 25; i++) results.push(await call());
    // The first 20 calls work; the 21st token is issued but its client is banned from then on.
    expect(results.slice(0, 20).every((result) => result.token === 200 && result.api === 200)).toBe(true);
    expect(results[20]).toEqual({ token: 200, api: 403 });
    expect(results.slice(21).every((result) => result.token === 403)).toBe(true);
    expect(emulator.stats().bannedClients).toEqual([expect.objectContaining({ provider, clientId })]);
    expect(emulatorCounts(emulator, provider).tokensIssued).toBe(21);
  });

  it('the same 1,000 calls through tokenbroker take one token per provider and are never banned', async () => {
    const tokens = managerFor(emulator);
    try {
      for (let round = 0; round < 10; round++) {
        const calls: Array<Promise<number>> = [];
        for (let i = 0; i < 50; i++) calls.push(listCustomers(tokens), joinClub(tokens, emulator, `+47${50_000_000 + round * 100 + i}`));
        expect((await Promise.all(calls)).every((status) => status === 200)).toBe(true);
      }
    } finally {
      await tokens.close();
    }
    expect(emulatorCounts(emulator, 'alternative-payments').tokensIssued).toBe(1);
    expect(emulatorCounts(emulator, 'autopay').tokensIssued).toBe(1);
    expect(emulator.stats().bannedClients).toEqual([]);
  });
});

describe('the demo workload (shortened)', () => {
  it('never gets tokenbroker banned, takes a handful of tokens, and gets the naive client banned', async () => {
    const durationMs = 4_000;
    const log: string[] = [];
    const summary = await runDemo({ durationMs, apTokenLifetimeSeconds: 3, naiveMaxMs: 6_000, log: (line) => log.push(line) });

    expect(summary.problems).toEqual([]);
    expect(checkSummary(summary, durationMs)).toEqual([]);
    const tb = summary.tokenbroker;
    expect(tb.banned).toBe(false);
    expect(tb.calls.ap.failed + tb.calls.autopay.failed).toBe(0);
    expect(tb.calls.ap.ok).toBeGreaterThan(200);
    expect(tb.calls.autopay.ok).toBeGreaterThan(200);
    const bounds = tokenBounds(durationMs, 3);
    expect(tb.tokensIssued.ap.total).toBeLessThanOrEqual(bounds.ap);
    expect(tb.tokensIssued.autopay.total).toBeLessThanOrEqual(bounds.autopay);
    expect(tb.tokensIssued.ap.total + tb.tokensIssued.autopay.total).toBeLessThanOrEqual(10);
    expect(tb.tokensIssued.ap.refreshAhead + tb.tokensIssued.ap.expiry).toBeGreaterThanOrEqual(1);
    expect(tb.tokensIssued.ap.invalidated).toBe(1);
    expect(tb.tokensIssued.autopay.invalidated).toBe(1);
    expect(tb.emulatorTokenRequests.ap).toBe(tb.tokensIssued.ap.total);
    expect(tb.hitRate).toBeGreaterThan(0.95);

    expect(summary.naive.bannedAfterMs.autopay).toBeDefined();
    expect(summary.naive.tokenRequests.autopay).toBeGreaterThan(20);
    // Progress was reported while it ran.
    expect(log.some((line) => line.includes('phase 1'))).toBe(true);
    expect(log.some((line) => line.includes('BANNED'))).toBe(true);
  }, 60_000);
});
