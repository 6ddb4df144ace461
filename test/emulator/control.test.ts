import { inspect } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator, type EmulatorStats } from '../../src/apps/emulator/index.js';
import {
  apToken,
  autopayToken,
  basic,
  FakeClock,
  joinCustomerClub,
  listCustomers,
  requestApToken,
  requestAutopayToken,
  startQuietEmulator,
} from './helpers.js';

const AP_ID = 'ap-control';
const AP_SECRET = 'ap-control-secret+/=%:x';
const AUTOPAY_ID = 'autopay-control';
const AUTOPAY_SECRET = 'autopay-control-secret+/=%:y';

async function httpStats(emulator: Emulator): Promise<EmulatorStats> {
  const response = await fetch(`${emulator.url}/_emulator/stats`);
  expect(response.status).toBe(200);
  return (await response.json()) as EmulatorStats;
}

describe('counters', () => {
  const clock = new FakeClock();
  let emulator: Emulator;

  beforeAll(async () => {
    emulator = await startQuietEmulator(clock, [
      { provider: 'alternative-payments', clientId: AP_ID, clientSecret: AP_SECRET },
      { provider: 'autopay', clientId: AUTOPAY_ID, clientSecret: AUTOPAY_SECRET },
    ]);
  });
  beforeEach(() => emulator.reset());
  afterAll(() => emulator.close());

  it('counts token requests, issues, rejections by reason and API outcomes, per provider and client', async () => {
    const token = await apToken(emulator, AP_ID, AP_SECRET);
    await requestApToken(emulator, basic(AP_ID, 'wrong'));
    await requestApToken(emulator, basic('stranger', 'whatever'));
    await requestApToken(emulator, basic(AP_ID, AP_SECRET), { body: 'grant_type=password' });
    emulator.configure({ force429: { count: 1 } });
    await requestApToken(emulator, basic(AP_ID, AP_SECRET));
    await listCustomers(emulator, token);
    await listCustomers(emulator, token, '?limit=1000');
    await listCustomers(emulator, 'f'.repeat(56));
    await listCustomers(emulator, undefined);

    const autopay = await autopayToken(emulator, AUTOPAY_ID, AUTOPAY_SECRET);
    await requestAutopayToken(emulator, { client_id: AUTOPAY_ID, client_secret: 'wrong' });
    await joinCustomerClub(emulator, autopay);
    await joinCustomerClub(emulator, undefined);

    const stats = emulator.stats();
    expect(stats.providers['alternative-payments']).toEqual({
      tokenRequests: 5,
      tokensIssued: 1,
      tokenRequestsRejected: { invalid_credentials: 2, rate_limited: 1, error_injected: 0, banned: 0, bad_request: 1 },
      apiCalls: { ok: 1, unauthorized: 2, banned: 0, bad_request: 1, rate_limited: 0 },
      clients: {
        // The unknown id "stranger" counts in the totals only.
        [AP_ID]: {
          tokenRequests: 4,
          tokensIssued: 1,
          tokenRequestsRejected: { invalid_credentials: 1, rate_limited: 1, error_injected: 0, banned: 0, bad_request: 1 },
          apiCalls: { ok: 1, unauthorized: 0, banned: 0, bad_request: 1, rate_limited: 0 },
        },
      },
    });
    expect(stats.providers.autopay).toMatchObject({
      tokenRequests: 2,
      tokensIssued: 1,
      tokenRequestsRejected: { invalid_credentials: 1 },
      apiCalls: { ok: 1, unauthorized: 1 },
      clients: { [AUTOPAY_ID]: { tokenRequests: 2, tokensIssued: 1, apiCalls: { ok: 1, unauthorized: 0 } } },
    });
    expect(stats.bannedClients).toEqual([]);
  });

  it('serves the same counters over HTTP, and a snapshot does not change the live counters', async () => {
    await apToken(emulator, AP_ID, AP_SECRET);
    const snapshot = emulator.stats();
    snapshot.providers['alternative-payments'].tokensIssued = 999;
    expect(await httpStats(emulator)).toEqual(emulator.stats());
    expect(emulator.stats().providers['alternative-payments'].tokensIssued).toBe(1);
  });

  it('resets counters over HTTP', async () => {
    await apToken(emulator, AP_ID, AP_SECRET);
    const response = await fetch(`${emulator.url}/_emulator/reset`, { method: 'POST' });
    expect(response.status).toBe(200);
    expect((await httpStats(emulator)).providers['alternative-payments'].tokenRequests).toBe(0);
  });

  it('keeps a client id such as "constructor" or "__proto__" apart from object internals', async () => {
    const odd = await startEmulator({
      now: clock.now,
      clients: [
        { provider: 'alternative-payments', clientId: 'constructor', clientSecret: 's1' },
        { provider: 'alternative-payments', clientId: '__proto__', clientSecret: 's2' },
      ],
    });
    try {
      await apToken(odd, 'constructor', 's1');
      await apToken(odd, '__proto__', 's2');
      const clients = (await httpStats(odd)).providers['alternative-payments'].clients;
      expect(Object.keys(clients).sort()).toEqual(['__proto__', 'constructor']);
      expect(clients['constructor']?.tokensIssued).toBe(1);
    } finally {
      await odd.close();
    }
  });
});

describe('revocation', () => {
  const clock = new FakeClock();
  let emulator: Emulator;

  beforeAll(async () => {
    emulator = await startQuietEmulator(clock, [
      { provider: 'alternative-payments', clientId: AP_ID, clientSecret: AP_SECRET },
      { provider: 'alternative-payments', clientId: 'ap-bystander', clientSecret: 'bystander-secret' },
      { provider: 'autopay', clientId: AUTOPAY_ID, clientSecret: AUTOPAY_SECRET },
    ]);
  });
  afterAll(() => emulator.close());

  it("revokeTokens(clientId) refuses that client's tokens issued so far, and only those", async () => {
    const revoked = await apToken(emulator, AP_ID, AP_SECRET);
    const bystander = await apToken(emulator, 'ap-bystander', 'bystander-secret');
    emulator.revokeTokens(AP_ID);
    const response = await listCustomers(emulator, revoked);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(await response.json()).toEqual({ code: 'unauthorized', message: 'Access token revoked; request a new one' });
    expect((await listCustomers(emulator, bystander)).status).toBe(200);
    // A token issued after the revocation works.
    expect((await listCustomers(emulator, await apToken(emulator, AP_ID, AP_SECRET))).status).toBe(200);
    // reset() does not bring a revoked token back.
    emulator.reset();
    expect((await listCustomers(emulator, revoked)).status).toBe(401);
  });

  it('revokeTokens() refuses every token of both providers', async () => {
    const ap = await apToken(emulator, AP_ID, AP_SECRET);
    const autopay = await autopayToken(emulator, AUTOPAY_ID, AUTOPAY_SECRET);
    emulator.revokeTokens();
    expect((await listCustomers(emulator, ap)).status).toBe(401);
    const response = await joinCustomerClub(emulator, autopay);
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error_id: 'authentication_error', message: 'Access token has been revoked!' });
  });

  it('revokes over HTTP, with or without a client id', async () => {
    const ap = await apToken(emulator, AP_ID, AP_SECRET);
    const bystander = await apToken(emulator, 'ap-bystander', 'bystander-secret');
    const one = await fetch(`${emulator.url}/_emulator/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: AP_ID }),
    });
    expect(one.status).toBe(200);
    expect((await listCustomers(emulator, ap)).status).toBe(401);
    expect((await listCustomers(emulator, bystander)).status).toBe(200);

    expect((await fetch(`${emulator.url}/_emulator/revoke`, { method: 'POST' })).status).toBe(200);
    expect((await listCustomers(emulator, bystander)).status).toBe(401);

    const bad = await fetch(`${emulator.url}/_emulator/revoke`, { method: 'POST', body: '{"clientId":5}' });
    expect(bad.status).toBe(400);
  });

  it('configures knobs over HTTP, validated', async () => {
    const ok = await fetch(`${emulator.url}/_emulator/configure`, { method: 'POST', body: JSON.stringify({ latencyMs: 0, errorRate: 0 }) });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { knobs: { errorRate: number } }).knobs.errorRate).toBe(0);
    const bad = await fetch(`${emulator.url}/_emulator/configure`, { method: 'POST', body: JSON.stringify({ errorRate: 5 }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toContain('errorRate');
  });
});

describe('secrets and tokens never leak', () => {
  const clock = new FakeClock();

  it('stats, HTTP stats, inspect and JSON of the emulator hold no secret and no token', async () => {
    const emulator = await startEmulator({
      now: clock.now,
      clients: [
        { provider: 'alternative-payments', clientId: AP_ID, clientSecret: AP_SECRET },
        { provider: 'autopay', clientId: AUTOPAY_ID, clientSecret: AUTOPAY_SECRET },
      ],
      ban: { maxTokens: 1, windowSeconds: 60 },
    });
    try {
      const tokens = [
        await apToken(emulator, AP_ID, AP_SECRET),
        await apToken(emulator, AP_ID, AP_SECRET),
        await autopayToken(emulator, AUTOPAY_ID, AUTOPAY_SECRET),
      ];
      await requestApToken(emulator, basic(AP_ID, AP_SECRET));
      await listCustomers(emulator, tokens[0]);
      const texts = [
        JSON.stringify(emulator.stats()),
        JSON.stringify(await httpStats(emulator)),
        inspect(emulator, { depth: Infinity, showHidden: true }),
        JSON.stringify(emulator),
      ];
      for (const text of texts) {
        for (const secret of [AP_SECRET, AUTOPAY_SECRET, ...tokens]) expect(text).not.toContain(secret);
      }
      expect(texts[0]).toContain(AP_ID);
    } finally {
      await emulator.close();
    }
  });
});
