/**
 * Issue 20: the emulator enforces the APIs' own rate limits, per client across its tokens, and counts
 * the 429s; its knobs are validated.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SAMPLE_CLIENTS, startEmulator, type Emulator } from '../../src/apps/emulator/index.js';

const [AP, AUTOPAY] = SAMPLE_CLIENTS;
let emulator: Emulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

async function apToken(e: Emulator): Promise<string> {
  const response = await fetch(`${e.alternativePaymentsBaseUrl}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${AP!.clientId}:${AP!.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  return ((await response.json()) as { access_token: string }).access_token;
}

async function autopayToken(e: Emulator): Promise<string> {
  const response = await fetch(e.autopayTokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_id: AUTOPAY!.clientId,
      client_secret: AUTOPAY!.clientSecret,
      audience: 'https://api.autopay.io',
      grant_type: 'client_credentials',
    }),
  });
  return ((await response.json()) as { access_token: string }).access_token;
}

describe('the emulated APIs enforce their rate limits', () => {
  it('Alternative Payments: 5 calls per second per client, counted across every token of the client, 429 without Retry-After', async () => {
    let now = 1_000_000;
    emulator = await startEmulator({ now: () => now, alternativePaymentsRateLimitPerSecond: 0 });
    const [first, second] = [await apToken(emulator), await apToken(emulator)];
    const statuses: number[] = [];
    const answers: Response[] = [];
    for (const token of [first, second, first, second, first, second]) {
      const response = await fetch(`${emulator.alternativePaymentsBaseUrl}/customers?limit=1`, { headers: { authorization: `Bearer ${token}` } });
      statuses.push(response.status);
      answers.push(response);
      await response.body?.cancel();
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    expect(answers[5]!.headers.get('retry-after')).toBeNull();
    now += 1_000; // the window has slid past the first calls
    const later = await fetch(`${emulator.alternativePaymentsBaseUrl}/customers?limit=1`, { headers: { authorization: `Bearer ${first}` } });
    expect(later.status).toBe(200);
    const stats = emulator.stats().providers['alternative-payments'];
    expect(stats.apiCalls).toMatchObject({ ok: 6, rate_limited: 1 });
    expect(stats.clients[AP!.clientId]!.apiCalls).toMatchObject({ ok: 6, rate_limited: 1 });
  });

  it('the knob at 0 turns it off', async () => {
    emulator = await startEmulator({ alternativePaymentsApiRateLimitPerSecond: 0, alternativePaymentsRateLimitPerSecond: 0 });
    const token = await apToken(emulator);
    const statuses = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const response = await fetch(`${emulator!.alternativePaymentsBaseUrl}/customers?limit=1`, { headers: { authorization: `Bearer ${token}` } });
        await response.body?.cancel();
        return response.status;
      }),
    );
    expect(statuses.every((status) => status === 200)).toBe(true);
  });

  it('Autopay: off by default; when set, 429 with x-ratelimit-limit, -remaining and -reset (a UNIX time)', async () => {
    const now = 1_700_000_000_000;
    emulator = await startEmulator({ now: () => now });
    const token = await autopayToken(emulator);
    const join = async () => {
      const response = await fetch(`${emulator!.autopayApiBaseUrl}/customer_club/v2/join`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ phone_number: '+4712345678' }),
      });
      await response.body?.cancel();
      return response;
    };
    for (let i = 0; i < 4; i++) expect((await join()).status).toBe(200);
    emulator.configure({ autopayApiRateLimitPerSecond: 2 });
    emulator.reset();
    expect((await join()).status).toBe(200);
    expect((await join()).status).toBe(200);
    const refused = await join();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-ratelimit-limit')).toBe('2');
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(refused.headers.get('x-ratelimit-reset')).toBe(String(Math.ceil((now + 1000) / 1000)));
    expect(emulator.stats().providers.autopay.clients[AUTOPAY!.clientId]!.apiCalls).toMatchObject({ ok: 2, rate_limited: 1 });
  });

  it('bad knob values are refused, naming each field', async () => {
    await expect(startEmulator({ alternativePaymentsApiRateLimitPerSecond: -1, autopayApiRateLimitPerSecond: 1.5 })).rejects.toThrow(
      /^(?=.*alternativePaymentsApiRateLimitPerSecond)(?=.*autopayApiRateLimitPerSecond)/s,
    );
    emulator = await startEmulator();
    expect(() => emulator!.configure({ alternativePaymentsApiRateLimitPerSecond: 'five' as unknown as number })).toThrow(
      /alternativePaymentsApiRateLimitPerSecond/,
    );
    expect(emulator.knobs().alternativePaymentsApiRateLimitPerSecond).toBe(5);
  });
});
