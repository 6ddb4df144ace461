/**
 * Acceptance 3: credentials errors are sent once and cooled down; 5xx, resets and timeouts are retried
 * then ProviderUnavailableError; 429 honours Retry-After then RateLimitedError. Over nock.
 */
import nock from 'nock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  alternativePayments,
  autopay,
  createTokenManager,
  InvalidCredentialsError,
  oauth2,
  ProviderUnavailableError,
  RateLimitedError,
  type Provider,
  type TokenManager,
} from '../../src/index.js';
import { startLoopbackServer } from '../helpers/loopback-server.js';

const AP = 'https://ap.example.test';
const AUTOPAY = 'https://auth.autopay.example.test';
const RFC = 'https://idp.example.test';

const providers = (): Record<string, Provider> => ({
  ap: alternativePayments({ clientId: 'id', clientSecret: 'secret', baseUrl: AP }),
  autopay: autopay({ clientId: 'id', clientSecret: 'secret', tokenUrl: `${AUTOPAY}/oauth/token` }),
  rfc: oauth2({ clientId: 'id', clientSecret: 'secret', tokenUrl: `${RFC}/token` }),
});
const ok = { access_token: 'abc', token_type: 'Bearer', expires_in: 3600 };

describe('provider errors through the manager', () => {
  let tokens: TokenManager;
  beforeEach(() => {
    nock.disableNetConnect();
  });
  afterEach(async () => {
    await tokens.close();
    nock.cleanAll();
    nock.enableNetConnect();
  });

  const credentialsCases: Array<[string, string, string, number, unknown]> = [
    ['Alternative Payments 403', 'ap', `${AP}|/oauth/token`, 403, { code: 'forbidden', message: 'Invalid credentials' }],
    ['Autopay 401 access_denied', 'autopay', `${AUTOPAY}|/oauth/token`, 401, { error: 'access_denied', error_description: 'Unauthorized' }],
    ['RFC 6749 invalid_client', 'rfc', `${RFC}|/token`, 401, { error: 'invalid_client', error_description: 'bad client' }],
  ];

  it.each(credentialsCases)('%s → InvalidCredentialsError, sent once, cooled down', async (_name, id, where, status, body) => {
    const [origin, path] = where.split('|') as [string, string];
    tokens = createTokenManager({ providers: providers(), invalidCredentialsCooldownMs: 60_000 });
    const scope = nock(origin).post(path).times(10).reply(status, body, { 'content-type': 'application/json' });
    const error = await tokens.getToken(id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidCredentialsError);
    expect(error).toMatchObject({ provider: id, code: 'invalid_credentials', status });
    // Cool-down: the same error, no new request.
    const again = await tokens.getToken(id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(InvalidCredentialsError);
    expect(scope.pendingMocks()).toHaveLength(1);
    expect(tokens.stats().byProvider[id]!.requestsSent).toBe(1);
    expect(tokens.stats().byProvider[id]!.cooledDown).toBe(1);
  });

  it('after the cool-down, invalid credentials are tried again (once)', async () => {
    tokens = createTokenManager({ providers: providers(), invalidCredentialsCooldownMs: 1 });
    nock(AP).post('/oauth/token').reply(403, { message: 'Invalid credentials' });
    await expect(tokens.getToken('ap')).rejects.toBeInstanceOf(InvalidCredentialsError);
    await new Promise((resolve) => setTimeout(resolve, 10));
    nock(AP).post('/oauth/token').reply(200, ok);
    await expect(tokens.getToken('ap')).resolves.toMatchObject({ accessToken: 'abc' });
  });

  it.each([500, 502, 503, 504])('HTTP %i is retried with backoff, then ProviderUnavailableError with the status', async (status) => {
    tokens = createTokenManager({ providers: providers(), retry: { attempts: 3, baseDelayMs: 5 } });
    nock(AP).post('/oauth/token').times(3).reply(status, 'upstream trouble');
    const error = await tokens.getToken('ap').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect(error).toMatchObject({ provider: 'ap', code: 'provider_unavailable', status });
    expect(tokens.stats().requestsSent).toBe(3);
  });

  it('a 5xx followed by success yields the token', async () => {
    tokens = createTokenManager({ providers: providers(), retry: { attempts: 3, baseDelayMs: 5 } });
    nock(AP).post('/oauth/token').reply(503).post('/oauth/token').reply(200, ok);
    await expect(tokens.getToken('ap')).resolves.toMatchObject({ accessToken: 'abc' });
    expect(tokens.stats().requestsSent).toBe(2);
  });

  it('connection resets are retried, then ProviderUnavailableError', async () => {
    nock.enableNetConnect('127.0.0.1');
    const server = await startLoopbackServer((request) => request.socket.destroy());
    try {
      tokens = createTokenManager({
        providers: { ap: alternativePayments({ clientId: 'id', clientSecret: 'secret', baseUrl: server.url }) },
        retry: { attempts: 3, baseDelayMs: 5 },
      });
      const error = await tokens.getToken('ap').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderUnavailableError);
      expect((error as ProviderUnavailableError).provider).toBe('ap');
      expect(server.requests()).toBe(3);
    } finally {
      await server.close();
    }
  });

  it('timeouts are retried, then ProviderUnavailableError, without waiting for the answer', async () => {
    nock.enableNetConnect('127.0.0.1');
    const server = await startLoopbackServer(() => {}); // never answers
    try {
      tokens = createTokenManager({
        providers: { ap: alternativePayments({ clientId: 'id', clientSecret: 'secret', baseUrl: server.url }) },
        timeoutMs: 100,
        retry: { attempts: 2, baseDelayMs: 5 },
      });
      const error = await tokens.getToken('ap').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderUnavailableError);
      expect((error as Error).message).toMatch(/timed out/);
      expect(server.requests()).toBe(2);
    } finally {
      await server.close();
    }
  });

  it('429 honours Retry-After (seconds) before the next attempt', async () => {
    tokens = createTokenManager({ providers: providers(), retry: { attempts: 2 } });
    nock(AP).post('/oauth/token').reply(429, '', { 'retry-after': '1' }).post('/oauth/token').reply(200, ok);
    const started = Date.now();
    await expect(tokens.getToken('ap')).resolves.toMatchObject({ accessToken: 'abc' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
  });

  it('429 on every attempt → RateLimitedError with retryAfterMs, and callers are held off without requests', async () => {
    tokens = createTokenManager({ providers: providers(), retry: { attempts: 2 } });
    const scope = nock(AP).post('/oauth/token').times(3).reply(429, '', { 'retry-after': '1' });
    const error = await tokens.getToken('ap').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ provider: 'ap', code: 'rate_limited', status: 429, retryAfterMs: 1000 });
    await expect(tokens.getToken('ap')).rejects.toBeInstanceOf(RateLimitedError);
    expect(scope.pendingMocks()).toHaveLength(1);
  });

  it('a Retry-After beyond maxRetryAfterMs ends the call at once instead of waiting', async () => {
    tokens = createTokenManager({ providers: providers(), retry: { attempts: 3, maxRetryAfterMs: 5_000 } });
    nock(AP).post('/oauth/token').reply(429, '', { 'retry-after': '3600' });
    const error = await tokens.getToken('ap').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'rate_limited', retryAfterMs: 3_600_000 });
    expect(tokens.stats().requestsSent).toBe(1);
  });

  it('Autopay 429 with x-ratelimit-reset gives a retryAfterMs', async () => {
    tokens = createTokenManager({ providers: providers(), retry: { attempts: 1 } });
    const reset = Math.floor(Date.now() / 1000) + 20;
    nock(AUTOPAY)
      .post('/oauth/token')
      .reply(429, { error: 'too_many_requests' }, { 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) });
    const error = await tokens.getToken('autopay').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBeGreaterThan(15_000);
    expect((error as RateLimitedError).providerCode).toBe('too_many_requests');
  });
});
