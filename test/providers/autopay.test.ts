import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { InvalidCredentialsError, InvalidTokenResponseError, ProviderUnavailableError, RateLimitedError } from '../../src/base/errors.js';
import { autopay } from '../../src/providers/autopay.js';
import { context, recorder, rejectionOf, useNock, type SeenRequest } from './helpers.js';

const AUTH = 'https://api-auth.autopay.io';
const TOKEN = { access_token: 'eyJ.x.y', scope: 'customer_club', expires_in: 86400, token_type: 'Bearer' };

describe('autopay', () => {
  useNock();

  it('sends a JSON body with exactly client_id, client_secret, audience and grant_type', async () => {
    const seen: SeenRequest[] = [];
    const scope = nock(AUTH)
      .post('/oauth/token')
      .reply(recorder(seen, 200, TOKEN));
    const provider = autopay({ clientId: 'kWml', clientSecret: 'se"cr\\et+/=' });

    const response = await provider.requestToken(context());

    expect(scope.isDone()).toBe(true);
    expect(response.body).toEqual(TOKEN);
    const [request] = seen;
    expect(request!.method).toBe('POST');
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.headers['accept']).toBe('application/json');
    expect(request!.headers['authorization']).toBeUndefined();
    const body = JSON.parse(request!.body) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['audience', 'client_id', 'client_secret', 'grant_type']);
    expect(body).toEqual({
      client_id: 'kWml',
      client_secret: 'se"cr\\et+/=',
      audience: 'https://api.autopay.io',
      grant_type: 'client_credentials',
    });
    expect(provider.apiBaseUrl).toBe('https://api.autopay.io');
    expect(provider.kind).toBe('autopay');
    expect(provider.defaultExpiresInSeconds).toBe(36_000);
  });

  it('sends an overridden audience to a custom token URL', async () => {
    const seen: SeenRequest[] = [];
    const scope = nock('http://127.0.0.1:4020')
      .post('/autopay/oauth/token')
      .reply(recorder(seen, 200, TOKEN));
    const provider = autopay({
      clientId: 'id',
      clientSecret: 'secret-1',
      audience: 'https://staging.autopay.io',
      tokenUrl: 'http://127.0.0.1:4020/autopay/oauth/token',
      apiBaseUrl: 'http://127.0.0.1:4020/autopay-api/',
    });

    await provider.requestToken(context());

    expect(scope.isDone()).toBe(true);
    expect(JSON.parse(seen[0]!.body)).toMatchObject({ audience: 'https://staging.autopay.io' });
    expect(provider.apiBaseUrl).toBe('http://127.0.0.1:4020/autopay-api');
  });

  it('maps 401 access_denied to InvalidCredentialsError', async () => {
    nock(AUTH).post('/oauth/token').reply(401, { error: 'access_denied', error_description: 'Unauthorized' });
    const error = await rejectionOf(autopay({ clientId: 'id', clientSecret: 'secret-1' }).requestToken(context()));
    expect(error).toBeInstanceOf(InvalidCredentialsError);
    expect(error).toMatchObject({ status: 401, providerCode: 'access_denied' });
  });

  it.each(['unauthorized_client', 'access_denied'])('maps 403 %s to InvalidCredentialsError with that providerCode', async (code) => {
    nock(AUTH).post('/oauth/token').reply(403, { error: code, error_description: 'Client is not authorized' });
    const error = await rejectionOf(autopay({ clientId: 'id', clientSecret: 'secret-1' }).requestToken(context()));
    expect(error).toBeInstanceOf(InvalidCredentialsError);
    expect(error).toMatchObject({ status: 403, providerCode: code });
  });

  it('treats any other 403 as an unexpected answer, not a credential problem', async () => {
    nock(AUTH).post('/oauth/token').reply(403, { error: 'something_else' });
    const error = await rejectionOf(autopay({ clientId: 'id', clientSecret: 'secret-1' }).requestToken(context()));
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
  });

  it('maps 429 with x-ratelimit-reset to RateLimitedError with a retryAfterMs', async () => {
    const resetAt = Math.floor(Date.now() / 1000) + 30;
    nock(AUTH)
      .post('/oauth/token')
      .reply(
        429,
        { error: 'too_many_requests', error_description: 'Global limit has been reached' },
        {
          'x-ratelimit-limit': '10',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(resetAt),
        },
      );
    const error = await rejectionOf(autopay({ clientId: 'id', clientSecret: 'secret-1' }).requestToken(context()));
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ status: 429, providerCode: 'too_many_requests' });
    const retryAfterMs = (error as RateLimitedError).retryAfterMs!;
    expect(retryAfterMs).toBeGreaterThan(25_000);
    expect(retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it('maps 503 to ProviderUnavailableError', async () => {
    nock(AUTH).post('/oauth/token').reply(503, 'unavailable');
    const error = await rejectionOf(autopay({ clientId: 'id', clientSecret: 'secret-1' }).requestToken(context()));
    expect(error).toBeInstanceOf(ProviderUnavailableError);
  });
});
