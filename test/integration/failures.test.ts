/**
 * The failure paths over real HTTP: a server-side revocation answered by one 401 rotation, 429 with
 * Retry-After honoured, and invalid credentials per provider.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { InvalidCredentialsError, RateLimitedError, type TokenManager } from '../../src/index.js';
import { emulatorCounts, joinClub, listCustomers, managerFor } from './helpers.js';

let emulator: Emulator;
const managers: TokenManager[] = [];

function manager(options: Parameters<typeof managerFor>[1] = {}): TokenManager {
  const tokens = managerFor(emulator, options);
  managers.push(tokens);
  return tokens;
}

beforeAll(async () => {
  emulator = await startEmulator({ alternativePaymentsApiRateLimitPerSecond: 0 }); // more API calls than 5/s
});
afterAll(() => emulator.close());
beforeEach(async () => {
  await Promise.all(managers.splice(0).map((tokens) => tokens.close()));
  emulator.configure({ force429: { count: 0 }, errorRate: 0 });
  emulator.reset();
});

describe('401 rotation after a server-side revocation', () => {
  it('Alternative Payments (ky client): one new token for 100 concurrent calls, every call succeeds', async () => {
    const tokens = manager();
    expect(await listCustomers(tokens)).toBe(200);
    const revoked = (await tokens.getToken('ap')).accessToken;

    emulator.revokeTokens();
    const statuses = await Promise.all(Array.from({ length: 100 }, () => listCustomers(tokens)));
    expect(statuses.filter((status) => status !== 200)).toEqual([]);

    const stats = tokens.stats().byProvider.ap!;
    expect(stats.tokensIssued).toMatchObject({ total: 2, coldStart: 1, invalidated: 1 });
    expect((await tokens.getToken('ap')).accessToken).not.toBe(revoked);
    const counts = emulatorCounts(emulator, 'alternative-payments');
    expect(counts.tokensIssued).toBe(2);
    expect(counts.apiCalls.unauthorized).toBeGreaterThanOrEqual(1);
    expect(counts.apiCalls.ok).toBe(101);
  });

  it('Autopay (fetch): the POST body is sent again on the retry', async () => {
    const tokens = manager();
    expect(await joinClub(tokens, emulator)).toBe(200);
    emulator.revokeTokens('autopay-sample-client');
    expect(await joinClub(tokens, emulator, '+4711112222')).toBe(200);
    expect(tokens.stats().byProvider.autopay!.tokensIssued).toMatchObject({ total: 2, invalidated: 1 });
    expect(emulatorCounts(emulator, 'autopay').apiCalls).toMatchObject({ ok: 2, unauthorized: 1 });
    // Alternative Payments' token was not revoked: no rotation there.
    expect(await listCustomers(tokens)).toBe(200);
    expect(tokens.stats().byProvider.ap!.tokensIssued.invalidated).toBe(0);
  });
});

describe('429 with Retry-After', () => {
  it('Alternative Payments: waits as told, then succeeds', async () => {
    const tokens = manager();
    emulator.configure({ force429: { count: 2, retryAfterSeconds: 1 } });
    const started = performance.now();
    const token = await tokens.getToken('ap');
    const elapsed = performance.now() - started;
    expect(token.accessToken).toMatch(/^[0-9a-f]{56}$/);
    // Two refusals, each saying "1 s": at least ~2 s of waiting (a little slack for timer granularity).
    expect(elapsed).toBeGreaterThanOrEqual(1_900);
    const counts = emulatorCounts(emulator, 'alternative-payments');
    expect(counts).toMatchObject({ tokenRequests: 3, tokensIssued: 1 });
    expect(counts.tokenRequestsRejected.rate_limited).toBe(2);
    expect(tokens.stats().byProvider.ap!.requestsSent).toBe(3);
  });

  it('Autopay: honours Retry-After (with x-ratelimit-* headers), then succeeds', async () => {
    const tokens = manager();
    emulator.configure({ force429: { count: 1, retryAfterSeconds: 2 } });
    const started = performance.now();
    expect(await joinClub(tokens, emulator)).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_900);
    expect(emulatorCounts(emulator, 'autopay')).toMatchObject({ tokenRequests: 2, tokensIssued: 1 });
  });

  it('still refused after every attempt: RateLimitedError with retryAfterMs, and no more requests during the cool-down', async () => {
    const tokens = manager({ retry: { attempts: 2 } });
    emulator.configure({ force429: { count: 5, retryAfterSeconds: 1 } });
    const error = await tokens.getToken('ap').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBeGreaterThan(0);
    expect((error as RateLimitedError).provider).toBe('ap');
    await expect(tokens.getToken('ap')).rejects.toBeInstanceOf(RateLimitedError);
    expect(emulatorCounts(emulator, 'alternative-payments').tokenRequests).toBe(2);
  });
});

describe('invalid credentials', () => {
  it('Alternative Payments: 403 → InvalidCredentialsError, not retried, remembered', async () => {
    const secret = 'wrong-ap-secret-+/=';
    const tokens = manager({ apSecret: secret });
    const error = await tokens.getToken('ap').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidCredentialsError);
    expect(error).toMatchObject({ provider: 'ap', status: 403, code: 'invalid_credentials' });
    expect(String((error as Error).message)).not.toContain(secret);
    // The API call fails the same way, without another token request (cool-down).
    await expect(tokens.client('ap').get('customers')).rejects.toBeInstanceOf(InvalidCredentialsError);
    const counts = emulatorCounts(emulator, 'alternative-payments');
    expect(counts.tokenRequests).toBe(1);
    expect(counts.tokenRequestsRejected.invalid_credentials).toBe(1);
  });

  it('Autopay: 401 access_denied → InvalidCredentialsError', async () => {
    const tokens = manager({ autopaySecret: 'wrong-autopay-secret' });
    const error = await tokens.getToken('autopay').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidCredentialsError);
    expect(error).toMatchObject({ provider: 'autopay', status: 401, providerCode: 'access_denied' });
    expect(emulatorCounts(emulator, 'autopay').tokenRequests).toBe(1);
  });

  it('Autopay: an audience the client is not enabled for → InvalidCredentialsError (403 access_denied)', async () => {
    const tokens = manager({ autopayAudience: 'https://not-enabled.example' });
    const error = await tokens.getToken('autopay').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidCredentialsError);
    expect(error).toMatchObject({ status: 403, providerCode: 'access_denied' });
  });
});
