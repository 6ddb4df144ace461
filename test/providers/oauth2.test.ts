import nock from 'nock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, InvalidCredentialsError, InvalidTokenResponseError, ProviderUnavailableError, RateLimitedError } from '../../src/base/errors.js';
import { oauth2 } from '../../src/providers/oauth2/index.js';
import { forgetSharedState } from '../../src/providers/oauth2/profile.js';
import { context, decodeBasic, recorder, rejectionOf, useNock, type SeenRequest } from './helpers.js';

const AS = 'https://auth.example.com';
const TOKEN_URL = `${AS}/oauth2/token`;
const TOKEN = { access_token: 'at-1', token_type: 'Bearer', expires_in: 600, scope: 'read' };

describe('oauth2', () => {
  useNock();
  beforeEach(() => forgetSharedState());

  it('client_secret_basic form-urlencodes id and secret before Base64 (RFC 6749 §2.3.1)', async () => {
    const seen: SeenRequest[] = [];
    nock(AS)
      .post('/oauth2/token')
      .reply(recorder(seen, 200, TOKEN));
    const provider = oauth2({ tokenUrl: TOKEN_URL, clientId: 'my client', clientSecret: 'a+b/c=d%e:f g' });

    const response = await provider.requestToken(context());

    const [request] = seen;
    expect(request!.method).toBe('POST');
    expect(request!.path).toBe('/oauth2/token');
    expect(request!.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    expect(decodeBasic(request!.headers['authorization'])).toBe('my+client:a%2Bb%2Fc%3Dd%25e%3Af+g');
    const body = new URLSearchParams(request!.body);
    expect([...body.keys()]).toEqual(['grant_type']);
    expect(body.get('grant_type')).toBe('client_credentials');
    // openid-client lowercases token_type; the manager accepts either case.
    expect(response.body).toEqual({ ...TOKEN, token_type: 'bearer' });
    expect(Object.getPrototypeOf(response.body)).toBe(Object.prototype);
    expect(provider.kind).toBe('oauth2');
  });

  it('client_secret_post sends client_id and client_secret in the body and no Authorization', async () => {
    const seen: SeenRequest[] = [];
    nock(AS)
      .post('/oauth2/token')
      .reply(recorder(seen, 200, TOKEN));
    const provider = oauth2({ tokenUrl: TOKEN_URL, clientId: 'id-1', clientSecret: 'a+b /c', authMethod: 'client_secret_post' });

    await provider.requestToken(context());

    const [request] = seen;
    expect(request!.headers['authorization']).toBeUndefined();
    const body = new URLSearchParams(request!.body);
    expect(body.get('client_id')).toBe('id-1');
    expect(body.get('client_secret')).toBe('a+b /c');
    expect(body.get('grant_type')).toBe('client_credentials');
  });

  it('sends scope, audience, resource and extra parameters', async () => {
    const seen: SeenRequest[] = [];
    nock(AS)
      .post('/oauth2/token')
      .reply(recorder(seen, 200, TOKEN));
    const provider = oauth2({
      tokenUrl: TOKEN_URL,
      clientId: 'id',
      clientSecret: 'secret-1',
      scope: 'read write',
      audience: 'https://api.example.com',
      resource: 'https://api.example.com/v2',
      extraParams: { tenant: 'acme' },
    });

    await provider.requestToken(context());

    const body = new URLSearchParams(seen[0]!.body);
    expect(Object.fromEntries(body)).toEqual({
      grant_type: 'client_credentials',
      scope: 'read write',
      audience: 'https://api.example.com',
      resource: 'https://api.example.com/v2',
      tenant: 'acme',
    });
  });

  it('discovers the token endpoint from the issuer once, then posts to it', async () => {
    const discovery = nock('https://issuer.example')
      .get('/.well-known/openid-configuration')
      .once()
      .reply(200, { issuer: 'https://issuer.example', token_endpoint: 'https://tokens.example/connect/token' });
    const seen: SeenRequest[] = [];
    const token = nock('https://tokens.example')
      .post('/connect/token')
      .twice()
      .reply(recorder(seen, 200, TOKEN));
    const provider = oauth2({ issuer: 'https://issuer.example', clientId: 'id', clientSecret: 'secret-1' });

    await provider.requestToken(context());
    await provider.requestToken(context());

    expect(discovery.isDone()).toBe(true);
    expect(token.isDone()).toBe(true);
    expect(seen).toHaveLength(2);
    expect(seen[0]!.path).toBe('/connect/token');
  });

  it('forgets a failed discovery and tries again on the next request', async () => {
    nock('https://issuer.example').get('/.well-known/openid-configuration').reply(503, 'down');
    nock('https://issuer.example')
      .get('/.well-known/openid-configuration')
      .reply(200, { issuer: 'https://issuer.example', token_endpoint: 'https://issuer.example/token' });
    nock('https://issuer.example').post('/token').reply(200, TOKEN);
    const provider = oauth2({ issuer: 'https://issuer.example', clientId: 'id', clientSecret: 'secret-1' });

    expect(await rejectionOf(provider.requestToken(context()))).toBeInstanceOf(ProviderUnavailableError);
    await expect(provider.requestToken(context())).resolves.toMatchObject({ body: { access_token: 'at-1' } });
  });

  it('rejects a discovery document with a mismatched issuer or an insecure token endpoint', async () => {
    nock('https://issuer.example')
      .get('/.well-known/openid-configuration')
      .reply(200, { issuer: 'https://other.example', token_endpoint: 'https://issuer.example/token' });
    nock('http://127.0.0.1:4030')
      .get('/.well-known/openid-configuration')
      .reply(200, { issuer: 'http://127.0.0.1:4030', token_endpoint: 'http://tokens.example/token' });

    const mismatch = oauth2({ issuer: 'https://issuer.example', clientId: 'id', clientSecret: 'secret-1' });
    expect(await rejectionOf(mismatch.requestToken(context()))).toBeInstanceOf(InvalidTokenResponseError);
    const insecure = oauth2({ issuer: 'http://127.0.0.1:4030', clientId: 'id', clientSecret: 'secret-1' });
    expect(await rejectionOf(insecure.requestToken(context()))).toBeInstanceOf(InvalidTokenResponseError);
  });

  it('refuses a discovered mtls_endpoint_aliases.token_endpoint that fails the URL policy', async () => {
    nock('https://issuer.example')
      .get('/.well-known/openid-configuration')
      .reply(200, {
        issuer: 'https://issuer.example',
        token_endpoint: 'https://issuer.example/token',
        mtls_endpoint_aliases: { token_endpoint: 'http://tokens.example/token' },
      });
    const provider = oauth2({ issuer: 'https://issuer.example', clientId: 'id', clientSecret: 'secret-1' });
    const error = await rejectionOf(provider.requestToken(context()));
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expect((error as Error).message).toContain('mtls_endpoint_aliases.token_endpoint');
  });

  it('works over http:// to a loopback host, discovery included', async () => {
    nock('http://127.0.0.1:4031')
      .get('/.well-known/openid-configuration')
      .reply(200, { issuer: 'http://127.0.0.1:4031', token_endpoint: 'http://127.0.0.1:4031/token' })
      .post('/token')
      .twice()
      .reply(200, TOKEN);
    const discovered = oauth2({ issuer: 'http://127.0.0.1:4031', clientId: 'id', clientSecret: 'secret-1' });
    const fixed = oauth2({ tokenUrl: 'http://127.0.0.1:4031/token', clientId: 'id', clientSecret: 'secret-1' });
    await expect(discovered.requestToken(context())).resolves.toBeDefined();
    await expect(fixed.requestToken(context())).resolves.toBeDefined();
  });

  it('maps 401 invalid_client to InvalidCredentialsError', async () => {
    nock(AS).post('/oauth2/token').twice().reply(401, { error: 'invalid_client', error_description: 'Client authentication failed' });
    const error = await rejectionOf(oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', clientSecret: 'secret-1' }).requestToken(context()));
    expect(error).toBeInstanceOf(InvalidCredentialsError);
    expect(error).toMatchObject({ status: 401, providerCode: 'invalid_client' });
    expect((error as Error).message).toContain('Client authentication failed');
  });

  it('maps a 401 WWW-Authenticate challenge to InvalidCredentialsError', async () => {
    nock(AS).post('/oauth2/token').twice().reply(401, '', { 'www-authenticate': 'Basic realm="token", error="invalid_client"' });
    const error = await rejectionOf(oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', clientSecret: 'secret-1' }).requestToken(context()));
    expect(error).toBeInstanceOf(InvalidCredentialsError);
    expect(error).toMatchObject({ status: 401 });
  });

  it('maps a bare 401 without an OAuth error body to InvalidCredentialsError', async () => {
    nock(AS).post('/oauth2/token').twice().reply(401, 'Unauthorized', { 'content-type': 'text/plain' });
    const error = await rejectionOf(oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', clientSecret: 'secret-1' }).requestToken(context()));
    expect(error).toBeInstanceOf(InvalidCredentialsError);
    expect(error).toMatchObject({ status: 401 });
  });

  it('maps other RFC 6749 §5.2 errors to InvalidTokenResponseError', async () => {
    nock(AS).post('/oauth2/token').reply(400, { error: 'invalid_request', error_description: 'audience is required' });
    const error = await rejectionOf(oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', clientSecret: 'secret-1' }).requestToken(context()));
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expect(error).toMatchObject({ status: 400, providerCode: 'invalid_request' });
  });

  it('maps 503 to ProviderUnavailableError and 429 to RateLimitedError', async () => {
    nock(AS).post('/oauth2/token').reply(503, 'maintenance', { 'retry-after': '3' });
    nock(AS).post('/oauth2/token').reply(429, { error: 'slow_down' }, { 'retry-after': '2' });
    const provider = oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', clientSecret: 'secret-1' });

    const unavailable = await rejectionOf(provider.requestToken(context()));
    expect(unavailable).toBeInstanceOf(ProviderUnavailableError);
    expect(unavailable).toMatchObject({ status: 503, retryAfterMs: 3000 });
    const limited = await rejectionOf(provider.requestToken(context()));
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect(limited).toMatchObject({ status: 429, retryAfterMs: 2000 });
  });

  it('never follows a redirect', async () => {
    nock(AS).post('/oauth2/token').reply(307, '', { location: 'https://attacker.example/token' });
    const target = nock('https://attacker.example').post('/token').reply(200, TOKEN);
    const error = await rejectionOf(oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', clientSecret: 'secret-1' }).requestToken(context()));
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expect(target.isDone()).toBe(false);
  });

  it('reports a non-2xx answer without an OAuth error body with its status and body', async () => {
    nock(AS).post('/oauth2/token').reply(404, 'no such endpoint', { 'content-type': 'text/plain' });
    const error = await rejectionOf(oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', clientSecret: 'secret-1' }).requestToken(context()));
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expect(error).toMatchObject({ status: 404 });
    expect((error as Error).message).toContain('no such endpoint');
  });

  it('rejects a 200 that is not a token response', async () => {
    nock(AS).post('/oauth2/token').reply(200, '<html></html>', { 'content-type': 'text/html' });
    nock(AS).post('/oauth2/token').reply(200, { token_type: 'Bearer' });
    const provider = oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', clientSecret: 'secret-1' });
    expect(await rejectionOf(provider.requestToken(context()))).toBeInstanceOf(InvalidTokenResponseError);
    expect(await rejectionOf(provider.requestToken(context()))).toBeInstanceOf(InvalidTokenResponseError);
  });

  it('turns network failures and aborts into ProviderUnavailableError', async () => {
    const provider = oauth2({ tokenUrl: 'https://unreachable.example/token', clientId: 'id', clientSecret: 'secret-1' });
    const unreachable = await rejectionOf(provider.requestToken(context()));
    expect(unreachable).toBeInstanceOf(ProviderUnavailableError);
    expect((unreachable as Error).message).toMatch(/^Token request failed/);
    expect((unreachable as ProviderUnavailableError).status).toBeUndefined();

    // Aborted before the request: (nock's socket emulation cannot abort a request in flight cleanly).
    const controller = new AbortController();
    controller.abort(new Error('caller gave up'));
    const aborted = oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', clientSecret: 'secret-1' }).requestToken({
      signal: controller.signal,
      timeoutMs: 10_000,
    });
    const error = await rejectionOf(aborted);
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect((error as Error).message).toMatch(/aborted/);
  });

  it('passes the provider quota headers along', async () => {
    nock(AS).post('/oauth2/token').reply(200, TOKEN, { 'auth0-client-quota-limit': 'b=per_hour;q=100;r=42;t=1800' });
    const response = await oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', clientSecret: 'secret-1' }).requestToken(context());
    expect(response.quota?.remaining).toBe(42);
  });

  it('needs exactly one of tokenUrl and issuer', () => {
    const both = () => oauth2({ tokenUrl: TOKEN_URL, issuer: AS, clientId: 'id', clientSecret: 'secret-1' });
    const neither = () => oauth2({ clientId: 'id', clientSecret: 'secret-1' });
    expect(both).toThrow(ConfigError);
    expect(neither).toThrow(ConfigError);
    try {
      neither();
    } catch (error) {
      expect((error as ConfigError).issues.map((i) => i.path)).toContain('oauth2.tokenUrl');
    }
    try {
      both();
    } catch (error) {
      expect((error as ConfigError).issues.map((i) => i.path)).toContain('oauth2.issuer');
    }
  });

  it('refuses extra parameters that would override its own', () => {
    expect(() => oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', clientSecret: 'secret-1', extraParams: { client_secret: 'x', scope: 'y' } })).toThrow(
      /oauth2\.extraParams\.client_secret[\s\S]*oauth2\.extraParams\.scope/,
    );
  });
});
