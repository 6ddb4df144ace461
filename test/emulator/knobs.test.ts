import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { apToken, autopayToken, basic, FakeClock, joinCustomerClub, listCustomers, requestApToken, requestAutopayToken } from './helpers.js';

const AP_ID = 'ap-knobs';
const AP_SECRET = 'ap-knobs-secret';
const AUTOPAY_ID = 'autopay-knobs';
const AUTOPAY_SECRET = 'autopay-knobs-secret';
const CLIENTS = [
  { provider: 'alternative-payments' as const, clientId: AP_ID, clientSecret: AP_SECRET },
  { provider: 'alternative-payments' as const, clientId: 'ap-other', clientSecret: 'ap-other-secret' },
  { provider: 'autopay' as const, clientId: AUTOPAY_ID, clientSecret: AUTOPAY_SECRET },
];

describe('injected failures', () => {
  const clock = new FakeClock();
  let emulator: Emulator;

  beforeAll(async () => {
    emulator = await startEmulator({ now: clock.now, clients: CLIENTS, alternativePaymentsRateLimitPerSecond: 0, ban: false });
  });
  afterEach(() => {
    emulator.configure({ errorRate: 0, latencyMs: 0 });
    emulator.reset();
  });
  afterAll(() => emulator.close());

  it('forces the next N token requests to 429 with Retry-After (Alternative Payments)', async () => {
    emulator.configure({ force429: { count: 2, retryAfterSeconds: 7 } });
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const response = await requestApToken(emulator, basic(AP_ID, AP_SECRET));
      expect(response.status).toBe(429);
      expect(response.headers.get('retry-after')).toBe('7');
      expect(((await response.json()) as { code: string }).code).toBe('too_many_requests');
    }
    expect((await requestApToken(emulator, basic(AP_ID, AP_SECRET))).status).toBe(200);
    expect(emulator.knobs().force429.count).toBe(0);
  });

  it('forces 429 without Retry-After when none is configured', async () => {
    emulator.configure({ force429: { count: 1 } });
    const response = await requestApToken(emulator, basic(AP_ID, AP_SECRET));
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBeNull();
  });

  it("forces Autopay 429 in Auth0's shape with x-ratelimit-* headers", async () => {
    emulator.configure({ force429: { count: 1, retryAfterSeconds: 30 } });
    const response = await requestAutopayToken(emulator, { client_id: AUTOPAY_ID, client_secret: AUTOPAY_SECRET });
    expect(response.status).toBe(429);
    expect(await response.json()).toEqual({ error: 'too_many_requests', error_description: 'Global limit has been reached' });
    expect(response.headers.get('retry-after')).toBe('30');
    expect(response.headers.get('x-ratelimit-limit')).toMatch(/^\d+$/);
    expect(response.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(response.headers.get('x-ratelimit-reset'))).toBe(Math.ceil(clock.ms / 1000) + 30);
  });

  it("answers 503 in each provider's shape at errorRate 1", async () => {
    emulator.configure({ errorRate: 1 });
    const ap = await requestApToken(emulator, basic(AP_ID, AP_SECRET));
    expect(ap.status).toBe(503);
    const apBody = (await ap.json()) as Record<string, unknown>;
    expect(apBody['code']).toBe('service_unavailable');
    expect(typeof apBody['message']).toBe('string');

    const autopay = await requestAutopayToken(emulator, { client_id: AUTOPAY_ID, client_secret: AUTOPAY_SECRET });
    expect(autopay.status).toBe(503);
    const autopayBody = (await autopay.json()) as Record<string, unknown>;
    expect(autopayBody['error']).toBe('temporarily_unavailable');
    expect(typeof autopayBody['error_description']).toBe('string');

    expect(emulator.stats().providers['alternative-payments'].tokenRequestsRejected.error_injected).toBe(1);
    expect(emulator.stats().providers.autopay.clients[AUTOPAY_ID]?.tokenRequestsRejected.error_injected).toBe(1);
  });

  it('delays token answers by latencyMs', async () => {
    emulator.configure({ latencyMs: 60 });
    const started = performance.now();
    const response = await requestApToken(emulator, basic(AP_ID, AP_SECRET));
    // A lower bound only: a slow machine can take longer, never shorter.
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    expect(response.status).toBe(200);
  });

  it('reset() drops pending forced 429s but keeps the other knobs', async () => {
    emulator.configure({ force429: { count: 5 }, latencyMs: 1 });
    emulator.reset();
    expect(emulator.knobs()).toMatchObject({ force429: { count: 0 }, latencyMs: 1 });
    expect((await requestApToken(emulator, basic(AP_ID, AP_SECRET))).status).toBe(200);
  });
});

describe('Alternative Payments rate limit per client id', () => {
  const clock = new FakeClock();
  let emulator: Emulator;

  beforeAll(async () => {
    emulator = await startEmulator({ now: clock.now, clients: CLIENTS, ban: false });
  });
  afterAll(() => emulator.close());

  it('answers 429 without Retry-After above 5 requests in a second, per client id', async () => {
    for (let request = 0; request < 5; request += 1) {
      expect((await requestApToken(emulator, basic(AP_ID, AP_SECRET))).status).toBe(200);
    }
    const limited = await requestApToken(emulator, basic(AP_ID, AP_SECRET));
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBeNull();
    expect(((await limited.json()) as { code: string }).code).toBe('too_many_requests');

    // Another client id has its own allowance.
    expect((await requestApToken(emulator, basic('ap-other', 'ap-other-secret'))).status).toBe(200);

    clock.ms += 999;
    expect((await requestApToken(emulator, basic(AP_ID, AP_SECRET))).status).toBe(429);
    clock.ms += 1;
    expect((await requestApToken(emulator, basic(AP_ID, AP_SECRET))).status).toBe(200);
    expect(emulator.stats().providers['alternative-payments'].clients[AP_ID]?.tokenRequestsRejected.rate_limited).toBe(2);
  });

  it('does not apply to Autopay, and 0 disables it', async () => {
    clock.advance(10);
    for (let request = 0; request < 8; request += 1) await autopayToken(emulator, AUTOPAY_ID, AUTOPAY_SECRET);
    emulator.configure({ alternativePaymentsRateLimitPerSecond: 0 });
    for (let request = 0; request < 8; request += 1) await apToken(emulator, AP_ID, AP_SECRET);
  });
});

describe('ban for excessive token generation', () => {
  const clock = new FakeClock();
  let emulator: Emulator;

  beforeAll(async () => {
    emulator = await startEmulator({
      now: clock.now,
      clients: CLIENTS,
      alternativePaymentsRateLimitPerSecond: 0,
      ban: { maxTokens: 3, windowSeconds: 60 },
    });
  });
  afterEach(() => emulator.reset());
  afterAll(() => emulator.close());

  it('bans an Alternative Payments client issued more than maxTokens in the window, until reset()', async () => {
    const tokens: string[] = [];
    for (let issued = 0; issued < 3; issued += 1) tokens.push(await apToken(emulator, AP_ID, AP_SECRET));
    expect(emulator.stats().bannedClients).toEqual([]);
    // The token that goes over the limit is still issued; the ban starts with it.
    const overLimit = await apToken(emulator, AP_ID, AP_SECRET);
    expect(emulator.stats().bannedClients).toEqual([{ provider: 'alternative-payments', clientId: AP_ID, bannedAt: clock.ms }]);

    const refused = await requestApToken(emulator, basic(AP_ID, AP_SECRET));
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({ code: 'forbidden', message: 'API access terminated: excessive token generation' });
    for (const token of [tokens[0] ?? '', overLimit]) {
      const api = await listCustomers(emulator, token);
      expect(api.status).toBe(403);
      expect(await api.json()).toEqual({ code: 'forbidden', message: 'API access terminated: excessive token generation' });
    }
    // Other clients are unaffected.
    expect((await listCustomers(emulator, await apToken(emulator, 'ap-other', 'ap-other-secret'))).status).toBe(200);

    const stats = emulator.stats().providers['alternative-payments'].clients[AP_ID];
    expect(stats).toMatchObject({ tokensIssued: 4, tokenRequestsRejected: { banned: 1 }, apiCalls: { banned: 2 } });

    emulator.reset();
    expect(emulator.stats().bannedClients).toEqual([]);
    expect((await listCustomers(emulator, tokens[1] ?? '')).status).toBe(200);
    expect((await requestApToken(emulator, basic(AP_ID, AP_SECRET))).status).toBe(200);
  });

  it('counts only tokens within the rolling window', async () => {
    for (let issued = 0; issued < 3; issued += 1) await apToken(emulator, AP_ID, AP_SECRET);
    clock.advance(60);
    for (let issued = 0; issued < 3; issued += 1) await apToken(emulator, AP_ID, AP_SECRET);
    expect(emulator.stats().bannedClients).toEqual([]);
  });

  it("bans an Autopay client with Autopay's bodies on the token endpoint and the API", async () => {
    const tokens: string[] = [];
    for (let issued = 0; issued < 4; issued += 1) tokens.push(await autopayToken(emulator, AUTOPAY_ID, AUTOPAY_SECRET));
    const refused = await requestAutopayToken(emulator, { client_id: AUTOPAY_ID, client_secret: AUTOPAY_SECRET });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({ error: 'access_denied', error_description: 'API access terminated: excessive token generation' });
    const api = await joinCustomerClub(emulator, tokens[0]);
    expect(api.status).toBe(403);
    expect(await api.json()).toEqual({ error_id: 'access_terminated', message: 'API access terminated: excessive token generation' });
  });

  it('never bans when ban is false', async () => {
    emulator.configure({ ban: false });
    try {
      for (let issued = 0; issued < 10; issued += 1) await apToken(emulator, AP_ID, AP_SECRET);
      expect(emulator.stats().bannedClients).toEqual([]);
    } finally {
      emulator.configure({ ban: { maxTokens: 3, windowSeconds: 60 } });
    }
  });

  it('uses the default of 20 tokens in 600 s', async () => {
    const defaults = await startEmulator({ now: clock.now, clients: CLIENTS, alternativePaymentsRateLimitPerSecond: 0 });
    try {
      expect(defaults.knobs().ban).toEqual({ maxTokens: 20, windowSeconds: 600 });
      for (let issued = 0; issued < 20; issued += 1) await apToken(defaults, AP_ID, AP_SECRET);
      expect(defaults.stats().bannedClients).toEqual([]);
      await apToken(defaults, AP_ID, AP_SECRET);
      expect(defaults.stats().bannedClients.map((client) => client.clientId)).toEqual([AP_ID]);
    } finally {
      await defaults.close();
    }
  });
});

describe('configure()', () => {
  let emulator: Emulator;
  beforeAll(async () => {
    emulator = await startEmulator({ clients: CLIENTS });
  });
  afterAll(() => emulator.close());

  it('has the documented defaults', () => {
    expect(emulator.knobs()).toEqual({
      tokenLifetimeSeconds: { alternativePayments: 3600, autopay: 86400 },
      latencyMs: 0,
      errorRate: 0,
      force429: { count: 0 },
      alternativePaymentsRateLimitPerSecond: 5,
      ban: { maxTokens: 20, windowSeconds: 600 },
      alternativePaymentsApiRateLimitPerSecond: 5,
      autopayApiRateLimitPerSecond: 0,
    });
  });

  it('merges lifetimes per provider', () => {
    emulator.configure({ tokenLifetimeSeconds: { autopay: 600 } });
    expect(emulator.knobs().tokenLifetimeSeconds).toEqual({ alternativePayments: 3600, autopay: 600 });
  });

  it('rejects a bad patch naming each bad field, and changes nothing', () => {
    const before = emulator.knobs();
    expect(() => emulator.configure({ errorRate: 2, latencyMs: -1, ban: { maxTokens: 0, windowSeconds: 1 } })).toThrow(
      /^(?=[\s\S]*knobs\.errorRate: )(?=[\s\S]*knobs\.latencyMs: )(?=[\s\S]*knobs\.ban\.maxTokens: )/,
    );
    expect(() => emulator.configure({ nonsense: true } as never)).toThrow(/unknown option.*nonsense/);
    expect(emulator.knobs()).toEqual(before);
  });
});
