import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { InvalidCredentialsError, InvalidTokenResponseError, ProviderUnavailableError, RateLimitedError } from '../../src/base/errors.js';
import { alternativePayments } from '../../src/providers/alternative-payments.js';
import { context, decodeBasic, recorder, rejectionOf, useNock, type SeenRequest } from './helpers.js';

const PROD = 'https://public-api.alternativepayments.io';
const DEMO = 'https://public-api.demo.alternativepayments.io';
const SECRET = 'se+cr/et=%41:tail';

describe('alternativePayments', () => {
  useNock();

  it('sends the documented request: form body, Basic of id:secret verbatim, nothing else', async () => {
    const seen: SeenRequest[] = [];
    const scope = nock(PROD).post('/oauth/token').reply(recorder(seen));
    const provider = alternativePayments({ clientId: 'client-1', clientSecret: SECRET });

    const response = await provider.requestToken(context());

    expect(scope.isDone()).toBe(true);
    expect(response.body).toEqual({ access_token: 'tok-1', token_type: 'bearer', expires_in: 3600 });
    const [request] = seen;
    expect(request!.method).toBe('POST');
    expect(request!.path).toBe('/oauth/token');
    expect(request!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(request!.headers['accept']).toBe('application/json');
    expect(request!.body).toBe('grant_type=client_credentials');
    // Not RFC 6749 §2.3.1: the provider documents Base64(client_id:client_secret) of the raw values.
    expect(decodeBasic(request!.headers['authorization'])).toBe(`client-1:${SECRET}`);
    expect(request!.body).not.toContain('client_id');
    expect(request!.body).not.toContain('client_secret');
  });

  it('uses production by default, demo when asked, and baseUrl over both', async () => {
    const prod = nock(PROD).post('/oauth/token').reply(recorder([]));
    const demo = nock(DEMO).post('/oauth/token').reply(recorder([]));
    const local = nock('http://127.0.0.1:4010').post('/ap/oauth/token').reply(recorder([]));

    const p = alternativePayments({ clientId: 'id', clientSecret: 'secret-1' });
    const d = alternativePayments({ clientId: 'id', clientSecret: 'secret-1', environment: 'demo' });
    const l = alternativePayments({ clientId: 'id', clientSecret: 'secret-1', environment: 'demo', baseUrl: 'http://127.0.0.1:4010/ap/' });
    await p.requestToken(context());
    await d.requestToken(context());
    await l.requestToken(context());

    expect([prod.isDone(), demo.isDone(), local.isDone()]).toEqual([true, true, true]);
    expect(p.apiBaseUrl).toBe(PROD);
    expect(d.apiBaseUrl).toBe(DEMO);
    expect(l.apiBaseUrl).toBe('http://127.0.0.1:4010/ap');
    expect(p.defaultExpiresInSeconds).toBe(3600);
    expect(p.kind).toBe('alternative-payments');
  });

  it('maps 403 (and 401) to InvalidCredentialsError with the status and the JSON code', async () => {
    nock(PROD).post('/oauth/token').reply(403, { code: 'invalid_credentials', message: 'Invalid credentials' });
    nock(PROD).post('/oauth/token').reply(401, 'nope');
    const provider = alternativePayments({ clientId: 'id', clientSecret: 'secret-1' });

    const forbidden = await rejectionOf(provider.requestToken(context()));
    expect(forbidden).toBeInstanceOf(InvalidCredentialsError);
    expect(forbidden).toMatchObject({ status: 403, providerCode: 'invalid_credentials' });
    expect((forbidden as Error).message).toContain('Invalid credentials');

    const unauthorized = await rejectionOf(provider.requestToken(context()));
    expect(unauthorized).toBeInstanceOf(InvalidCredentialsError);
    expect(unauthorized).toMatchObject({ status: 401 });
  });

  it('maps 500 to ProviderUnavailableError', async () => {
    nock(PROD).post('/oauth/token').reply(500, 'boom');
    const error = await rejectionOf(alternativePayments({ clientId: 'id', clientSecret: 'secret-1' }).requestToken(context()));
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect(error).toMatchObject({ status: 500 });
  });

  it('maps 429 with Retry-After to RateLimitedError with retryAfterMs', async () => {
    nock(PROD).post('/oauth/token').reply(429, { message: 'slow down' }, { 'Retry-After': '7' });
    const error = await rejectionOf(alternativePayments({ clientId: 'id', clientSecret: 'secret-1' }).requestToken(context()));
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ status: 429, retryAfterMs: 7000 });
  });

  it('never follows a redirect with the credentials', async () => {
    nock(PROD).post('/oauth/token').reply(302, '', { Location: 'https://attacker.example/collect' });
    const target = nock('https://attacker.example').post('/collect').reply(200, {}).get('/collect').reply(200, {});
    const error = await rejectionOf(alternativePayments({ clientId: 'id', clientSecret: 'secret-1' }).requestToken(context()));
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expect(error).toMatchObject({ status: 302 });
    expect(target.isDone()).toBe(false);
    expect(target.pendingMocks()).toHaveLength(2);
  });

  it('rejects a 200 that is not JSON', async () => {
    nock(PROD).post('/oauth/token').reply(200, '<html>maintenance</html>', { 'content-type': 'text/html' });
    const error = await rejectionOf(alternativePayments({ clientId: 'id', clientSecret: 'secret-1' }).requestToken(context()));
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
  });

  it('turns a network failure into ProviderUnavailableError', async () => {
    // No interceptor and no net connect: the fetch itself fails, as on a refused connection.
    const error = await rejectionOf(alternativePayments({ clientId: 'id', clientSecret: 'secret-1' }).requestToken(context()));
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect((error as Error).message).toMatch(/^Token request failed/);
    expect((error as ProviderUnavailableError).status).toBeUndefined();
  });

  it('passes a quota from x-ratelimit headers along with the body', async () => {
    nock(PROD)
      .post('/oauth/token')
      .reply(200, { access_token: 't', token_type: 'Bearer', expires_in: 3600 }, { 'x-ratelimit-remaining': '4', 'x-ratelimit-reset': '2000000000' });
    const response = await alternativePayments({ clientId: 'id', clientSecret: 'secret-1' }).requestToken(context());
    expect(response.quota).toEqual({ remaining: 4, resetAt: 2_000_000_000_000 });
  });
});
