/**
 * Acceptance 6: through client()/fetch(), a 401 causes one invalidation and one retry, never more; a
 * stale 401 never throws away a newer token; 100 concurrent 401s on one token cause one new token.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alternativePayments, ConfigError, createTokenManager, ForeignOriginError, type TokenManager } from '../src/index.js';
import { startLoopbackServer, type LoopbackServer } from './helpers/loopback-server.js';

describe('authorised client', () => {
  let server: LoopbackServer;
  let tokens: TokenManager;
  let issued: string[];
  let revoked: Set<string>;
  let apiCalls: number;
  let alwaysUnauthorized: boolean;

  beforeEach(async () => {
    issued = [];
    revoked = new Set();
    apiCalls = 0;
    alwaysUnauthorized = false;
    server = await startLoopbackServer((request, response, body) => {
      if (request.url === '/oauth/token') {
        const token = `tok-${issued.length + 1}`;
        issued.push(token);
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, token_type: 'bearer', expires_in: 3600 }));
        return;
      }
      apiCalls += 1;
      const token = request.headers.authorization?.replace(/^Bearer /, '') ?? '';
      if (alwaysUnauthorized || !issued.includes(token) || revoked.has(token)) {
        response.writeHead(401, { 'content-type': 'application/json' }).end('{"code":"unauthorized"}');
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, body }));
    });
    tokens = createTokenManager({
      // Unpaced: these tests send 100 concurrent calls about the 401 rule (pacing: test/pacing/).
      providers: { ap: alternativePayments({ clientId: 'id', clientSecret: 'secret', baseUrl: server.url, rateLimit: false }) },
    });
  });
  afterEach(async () => {
    await tokens.close();
    await server.close();
  });

  it('attaches the token and uses the provider API base as prefix', async () => {
    const answer = await tokens.client('ap').get('customers').json<{ token: string }>();
    expect(answer.token).toBe('tok-1');
    expect(issued).toHaveLength(1);
  });

  it('a 401 causes one invalidation and one retry (with the body), and the retry succeeds', async () => {
    await tokens.getToken('ap');
    revoked.add('tok-1');
    const answer = await tokens
      .client('ap')
      .post('customers', { json: { name: 'Ada' } })
      .json<{ token: string; body: string }>();
    expect(answer.token).toBe('tok-2');
    expect(JSON.parse(answer.body)).toEqual({ name: 'Ada' });
    expect(apiCalls).toBe(2);
    expect(issued).toHaveLength(2);
    expect(tokens.stats().tokensIssued.invalidated).toBe(1);
  });

  it('never retries more than once: a second 401 is returned as is', async () => {
    alwaysUnauthorized = true;
    const response = await tokens.fetch('ap')(`${server.url}/customers`);
    expect(response.status).toBe(401);
    expect(apiCalls).toBe(2);
    expect(issued).toHaveLength(2);
  });

  it('a stale 401 never throws away a newer token', async () => {
    const old = await tokens.getToken('ap');
    const newer = await tokens.getToken('ap', { forceRefresh: true });
    expect(tokens.invalidate('ap', old.accessToken)).toBe(false);
    expect((await tokens.getToken('ap')).accessToken).toBe(newer.accessToken);
    expect(issued).toHaveLength(2);
  });

  it('100 concurrent 401s on one token cause exactly one new token', async () => {
    await tokens.getToken('ap');
    revoked.add('tok-1');
    const client = tokens.client('ap');
    const answers = await Promise.all(Array.from({ length: 100 }, () => client.get('customers').json<{ token: string }>()));
    expect(answers.every((a) => a.token === 'tok-2')).toBe(true);
    expect(issued).toEqual(['tok-1', 'tok-2']);
  });

  it('refuses to send a token to another origin', async () => {
    const refusal = await tokens
      .fetch('ap')('https://elsewhere.example.com/customers')
      .catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(ForeignOriginError);
    expect(refusal).not.toBeInstanceOf(ConfigError);
    expect(refusal).toMatchObject({ code: 'foreign_origin', provider: 'ap', requestedOrigin: 'https://elsewhere.example.com' });
    expect(issued).toHaveLength(0);
  });

  it('a cross-origin redirect does not carry the token to the other origin', async () => {
    let seen: string | undefined = 'not called';
    const other = await startLoopbackServer((request, response) => {
      seen = request.headers.authorization;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    const redirecting = await startLoopbackServer((request, response) => {
      if (request.url === '/oauth/token') {
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'tok-r', token_type: 'bearer', expires_in: 3600 }));
      } else {
        response.writeHead(302, { location: `${other.url}/landing` }).end();
      }
    });
    const local = createTokenManager({
      providers: { r: alternativePayments({ clientId: 'id', clientSecret: 'secret', baseUrl: redirecting.url }) },
    });
    try {
      const response = await local.fetch('r')(`${redirecting.url}/customers`);
      expect(response.status).toBe(200);
      expect(seen).toBeUndefined();
    } finally {
      await local.close();
      await redirecting.close();
      await other.close();
    }
  });
});
