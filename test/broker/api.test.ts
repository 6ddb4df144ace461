import { createHash } from 'node:crypto';
/**
 * The broker's API over real HTTP against the emulator: authentication, allow-lists, every error code,
 * and the sweep that no answer or log line carries a secret, a consumer key, or a token outside the
 * `access_token` field.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoopbackServer, type LoopbackServer } from '../helpers/loopback-server.js';
import { keyDigest } from '../../src/apps/broker/index.js';
import { AP_CLIENT, AUTOPAY_CLIENT, bearer, ENV, KEYS, startHarness, type BrokerHarness } from './helpers.js';

let h: BrokerHarness;
let garbage: LoopbackServer;
const issuedTokens = new Set<string>();

beforeAll(async () => {
  // A token endpoint that answers 200 with something that is not a token.
  garbage = await startLoopbackServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end('<html>not a token</html>');
  });
  h = await startHarness();
});

afterAll(async () => {
  await h?.close();
  await garbage?.close();
});

function expectError(answer: { status: number; json: Record<string, unknown>; headers: Headers }, status: number, code: string): void {
  expect(answer.status).toBe(status);
  expect(answer.json).toEqual({ error: { code, message: expect.any(String) } });
  expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
}

describe('GET /v1/tokens/:provider', () => {
  it('gives an allowed consumer a token, with no-store, by Authorization: Bearer or x-api-key', async () => {
    const before = Date.now();
    const ap = await h.get('/v1/tokens/ap', bearer(KEYS.billing));
    expect(ap.status).toBe(200);
    expect(ap.headers.get('cache-control')).toBe('no-store');
    expect(ap.headers.get('pragma')).toBe('no-cache');
    expect(Object.keys(ap.json).sort()).toEqual(['access_token', 'expires_at', 'expires_in', 'token_type']);
    expect(ap.json.access_token).toMatch(/^[0-9a-f]{56}$/);
    expect(ap.json.token_type).toBe('Bearer');
    expect(ap.json.expires_in).toBeGreaterThan(3590);
    expect(ap.json.expires_in).toBeLessThanOrEqual(3600);
    const expiresAt = Date.parse(ap.json.expires_at as string);
    expect(new Date(expiresAt).toISOString()).toBe(ap.json.expires_at);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 3_599_000);
    issuedTokens.add(ap.json.access_token as string);

    const autopay = await h.get('/v1/tokens/autopay', { 'x-api-key': KEYS.payouts });
    expect(autopay.status).toBe(200);
    expect(autopay.json.scope).toBe('customer_club');
    issuedTokens.add(autopay.json.access_token as string);

    // The same token again, from the cache: one upstream request per provider.
    const again = await h.get('/v1/tokens/ap', { authorization: `bearer   ${KEYS.billing}` });
    expect(again.json.access_token).toBe(ap.json.access_token);
    expect(h.emulator.stats().providers['alternative-payments'].clients[AP_CLIENT.clientId]!.tokensIssued).toBe(1);
    expect(h.emulator.stats().providers.autopay.clients[AUTOPAY_CLIENT.clientId]!.tokensIssued).toBe(1);
  });

  it('the token works on the provider API', async () => {
    const ap = await h.get('/v1/tokens/ap', bearer(KEYS.billing));
    const response = await fetch(`${h.emulator.alternativePaymentsBaseUrl}/customers?limit=1`, {
      headers: { authorization: `Bearer ${String(ap.json.access_token)}` },
    });
    expect(response.status).toBe(200);
  });

  it('401 unauthenticated for a missing or malformed key, 401 invalid_key for a wrong one, with WWW-Authenticate', async () => {
    const attempts: Array<[Record<string, string>, string]> = [
      [{}, 'unauthenticated'],
      [bearer('tbk_not_a_key_at_all_1234567890abcdef'), 'invalid_key'],
      [{ 'x-api-key': 'tbk_wrong_key_abcdef0123456789' }, 'invalid_key'],
      [{ authorization: `Basic ${Buffer.from(`billing:${KEYS.billing}`).toString('base64')}` }, 'unauthenticated'],
      [{ authorization: 'Bearer' }, 'unauthenticated'],
      [{ authorization: `Bearer ${KEYS.billing}x` }, 'invalid_key'],
    ];
    for (const [headers, code] of attempts) {
      const answer = await h.get('/v1/tokens/ap', headers);
      expectError(answer, 401, code);
      expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(answer.headers.get('cache-control')).toBe('no-store');
    }
  });

  it("403 provider_not_allowed outside the consumer's allow-list", async () => {
    expectError(await h.get('/v1/tokens/ap', bearer(KEYS.payouts)), 403, 'provider_not_allowed');
  });

  it('404 unknown_provider for an id that is not configured, 404 not_found elsewhere, 414 for an over-long id', async () => {
    expectError(await h.get('/v1/tokens/paypal', bearer(KEYS.billing)), 404, 'unknown_provider');
    expectError(await h.get(`/v1/tokens/${'x'.repeat(200)}`, bearer(KEYS.billing)), 414, 'uri_too_long');
    expectError(await h.get('/v2/whatever', bearer(KEYS.billing)), 404, 'not_found');
    const malformed = await h.get('/v1/tokens/%E0%A4%A', bearer(KEYS.billing));
    expectError(malformed, 400, 'bad_request');
    expect(malformed.text).not.toContain('%E0');
  });

  it('an unknown provider is 404 only once authenticated: anonymous callers learn nothing', async () => {
    expectError(await h.get('/v1/tokens/paypal'), 401, 'unauthenticated');
    const unknown = await h.get('/v1/tokens/paypal', bearer(KEYS.billing));
    expectError(unknown, 404, 'unknown_provider');
    expect(unknown.json).toMatchObject({ error: { message: 'No provider is configured under "paypal"' } });
  });

  it("502 upstream_invalid_credentials when the provider refuses the broker's credentials", async () => {
    const answer = await h.get('/v1/tokens/ap-wrong', bearer(KEYS.billing));
    expectError(answer, 502, 'upstream_invalid_credentials');
    expect(h.emulator.stats().providers['alternative-payments'].tokenRequestsRejected.invalid_credentials).toBe(1);
    // Remembered for the cool-down: no second request.
    expectError(await h.get('/v1/tokens/ap-wrong', bearer(KEYS.billing)), 502, 'upstream_invalid_credentials');
    expect(h.emulator.stats().providers['alternative-payments'].tokenRequestsRejected.invalid_credentials).toBe(1);
  });

  it('503 upstream_unavailable with Retry-After when the provider is down', async () => {
    h.emulator.configure({ errorRate: 1 });
    try {
      const answer = await h.get('/v1/tokens/autopay', bearer(KEYS.billing));
      // autopay is cached from the first test: still served while the provider is down.
      expect(answer.status).toBe(200);
      h.broker.tokens.invalidate('autopay');
      const down = await h.get('/v1/tokens/autopay', bearer(KEYS.billing));
      expectError(down, 503, 'upstream_unavailable');
      expect(down.headers.get('retry-after')).toMatch(/^\d+$/);
    } finally {
      h.emulator.configure({ errorRate: 0 });
    }
  });

  it("503 upstream_rate_limited with the provider's Retry-After", async () => {
    h.broker.tokens.invalidate('autopay');
    h.emulator.configure({ force429: { count: 1, retryAfterSeconds: 7 } });
    const answer = await h.get('/v1/tokens/autopay', bearer(KEYS.billing));
    expectError(answer, 503, 'upstream_rate_limited');
    expect(answer.headers.get('retry-after')).toBe('7');
  });

  it('405 for other methods, 413 for a body over the limit, 431 for oversized headers', async () => {
    const post = await fetch(`${h.url}/v1/tokens/ap`, { method: 'POST', headers: { ...bearer(KEYS.billing), 'content-type': 'application/json' }, body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const big = await fetch(`${h.url}/v1/tokens/ap`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ x: 'y'.repeat(10_000) }),
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${h.url}/v1/tokens/ap`, { headers: { 'x-filler': 'z'.repeat(20_000) } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(431);
  });
});

describe('the invalid-response mapping', () => {
  it('502 upstream_invalid_response', async () => {
    const { createBroker, keyDigest } = await import('../../src/apps/broker/index.js');
    const logs: string[] = [];
    const broker = createBroker(
      {
        listen: { port: 0 },
        providers: { odd: { type: 'oauth2', clientId: 'odd-client', clientSecretEnv: 'WRONG_SECRET', tokenUrl: `${garbage.url}/token` } },
        consumers: [{ name: 'odd', keySha256: keyDigest(KEYS.billing), providers: ['odd'] }],
        tokens: { retry: { attempts: 1 } },
      },
      { env: ENV, logDestination: { write: (line: string) => logs.push(line) } },
    );
    const url = await broker.listen();
    try {
      const response = await fetch(`${url}/v1/tokens/odd`, { headers: bearer(KEYS.billing) });
      expect(response.status).toBe(502);
      expect(await response.json()).toEqual({ error: { code: 'upstream_invalid_response', message: expect.any(String) } });
    } finally {
      await broker.close();
    }
    h.logs.push(...logs);
  });
});

describe('secrets', () => {
  it('no answer and no log line holds a client secret or a consumer key; tokens only in access_token', async () => {
    // Make sure a few more tokens went through.
    for (const answer of h.answers) if (typeof answer.json.access_token === 'string') issuedTokens.add(answer.json.access_token);
    expect(issuedTokens.size).toBeGreaterThanOrEqual(2);
    expect(h.logs.length).toBeGreaterThan(10);
    const forbidden = [...Object.values(ENV), ...Object.values(KEYS)];
    for (const line of h.logs) {
      for (const secret of forbidden) expect(line).not.toContain(secret);
      for (const token of issuedTokens) expect(line).not.toContain(token);
      expect(line).not.toMatch(/"(authorization|x-api-key)"/i);
    }
    for (const answer of h.answers) {
      for (const secret of forbidden) expect(answer.text).not.toContain(secret);
      const { access_token: _token, ...rest } = answer.json;
      const outside = typeof answer.json.access_token === 'string' ? JSON.stringify(rest) : answer.text;
      for (const token of issuedTokens) expect(outside).not.toContain(token);
      for (const [, value] of answer.headers) for (const token of issuedTokens) expect(value).not.toContain(token);
    }
  });

  it('one audit line per token request: time, request id, consumer, key id, client IP, provider, fingerprint, outcome, latency', async () => {
    const before = h.logs.length;
    const answer = await h.get('/v1/tokens/ap?key=tbk_in_query_string_0123456789', { ...bearer(KEYS.billing), 'x-request-id': 'trace-42.a' });
    expect(answer.headers.get('x-request-id')).toBe('trace-42.a');
    const lines = h.logs.slice(before).map((line) => JSON.parse(line) as Record<string, unknown>);
    const audit = lines.filter((line) => line.type === 'audit');
    expect(audit).toHaveLength(1);
    const token = String(answer.json.access_token);
    expect(audit[0]).toEqual({
      type: 'audit',
      time: expect.any(Number),
      reqId: 'trace-42.a',
      consumer: 'billing',
      keyId: keyDigest(KEYS.billing).slice(0, 8),
      ip: '127.0.0.1',
      provider: 'ap',
      outcome: 'issued',
      status: 200,
      fingerprint: createHash('sha256').update(token).digest('base64url').slice(0, 12),
      latencyMs: expect.any(Number),
    });
    // The token request is recorded once, by the audit line; nothing quotes the URL, the token or the key.
    expect(lines.filter((line) => line.msg === 'request')).toHaveLength(0);
    expect(JSON.stringify(lines)).not.toContain('tbk_in_query_string');
    expect(JSON.stringify(lines)).not.toContain(token);
    expect(JSON.stringify(lines)).not.toContain(KEYS.billing);
  });

  it('refusals are audited too, and a malformed x-request-id is replaced', async () => {
    const before = h.logs.length;
    const answer = await h.get('/v1/tokens/ap', { ...bearer('tbk_wrong_key_abcdef0123456789'), 'x-request-id': 'bad id\twith tab' });
    expect(answer.status).toBe(401);
    const reqId = answer.headers.get('x-request-id');
    expect(reqId).toMatch(/^[0-9a-f-]{36}$/);
    const audit = h.logs
      .slice(before)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.type === 'audit');
    expect(audit).toEqual([
      expect.objectContaining({ reqId, outcome: 'refused', code: 'invalid_key', status: 401, keyId: keyDigest('tbk_wrong_key_abcdef0123456789').slice(0, 8) }),
    ]);
    expect(audit[0]).not.toHaveProperty('fingerprint');
  });

  it('every answer has x-request-id, 404 and 400 included', async () => {
    for (const path of ['/v2/nothing', '/v1/tokens/%E0%A4%A', '/v1/tokens/ap']) {
      expect((await h.get(path)).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });
});
