/**
 * Issue 7, the fault matrix: every transport and protocol fault a token endpoint can produce, over real
 * HTTP on loopback (a purpose-built server or the emulator), each with its expected behaviour asserted —
 * the error class, how many requests reached the server, and that nothing was cached. The clock rows
 * run on vitest's fake clock. Bounds are generous: nothing here races the clock.
 */
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  alternativePayments,
  autopay,
  createTokenManager,
  InvalidTokenResponseError,
  oauth2,
  ProviderUnavailableError,
  RateLimitedError,
  TokenError,
  type Provider,
  type TokenManager,
  type TokenManagerOptions,
} from '../../src/index.js';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { startLoopbackServer, type Handler, type LoopbackServer } from '../helpers/loopback-server.js';
import { fakeProvider, tokenBody } from '../helpers/fake-provider.js';

const GOOD = JSON.stringify({ access_token: 'good-token', token_type: 'bearer', expires_in: 3600 });
const json = { 'content-type': 'application/json' };

let tokens: TokenManager | undefined;
const servers: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  await tokens?.close();
  tokens = undefined;
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function serve(handler: Handler): Promise<LoopbackServer> {
  const server = await startLoopbackServer(handler);
  servers.push(server);
  return server;
}

/** A manager with one Alternative Payments credential pointed at `baseUrl`; no cool-downs, so a second call asks again. */
function managerFor(baseUrl: string, options: TokenManagerOptions = {}): TokenManager {
  tokens = createTokenManager({
    providers: { ap: alternativePayments({ clientId: 'id', clientSecret: 'secret', baseUrl, rateLimit: false }) },
    retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
    failureCooldownMs: 0,
    ...options,
  });
  return tokens;
}

async function failure(promise: Promise<unknown>): Promise<TokenError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TokenError);
  return error as TokenError;
}

/** After a failed call, nothing was cached: the next call goes to the server again. */
async function expectNothingCached(manager: TokenManager, requests: () => number): Promise<void> {
  const before = requests();
  await manager.getToken('ap').catch(() => undefined);
  expect(requests()).toBeGreaterThan(before);
}

describe('fault matrix over real HTTP (loopback)', () => {
  it('connection refused (a closed port): retried, then ProviderUnavailableError; nothing cached', async () => {
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const manager = managerFor(`http://127.0.0.1:${port}`);
    const error = await failure(manager.getToken('ap'));
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect(error).toMatchObject({ provider: 'ap', code: 'provider_unavailable' });
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect(manager.stats().requestsSent).toBe(3);
    expect(manager.stats().tokensIssued.total).toBe(0);
    await expectNothingCached(manager, () => manager.stats().requestsSent);
  });

  it('connection reset mid-body: retried, then ProviderUnavailableError; nothing cached', async () => {
    const server = await serve((_request, response) => {
      response.writeHead(200, { ...json, 'content-length': String(GOOD.length) });
      response.write(GOOD.slice(0, GOOD.length / 2));
      setTimeout(() => response.socket?.destroy(), 20);
    });
    const manager = managerFor(server.url);
    const error = await failure(manager.getToken('ap'));
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect(server.requests()).toBe(3);
    await expectNothingCached(manager, server.requests);
  });

  it('no answer at all: each attempt times out, then ProviderUnavailableError; the caller is not held', async () => {
    const server = await serve(() => {}); // reads the request, never answers
    const manager = managerFor(server.url, { timeoutMs: 200, retry: { attempts: 2, baseDelayMs: 5 } });
    const started = performance.now();
    const error = await failure(manager.getToken('ap'));
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect(error.message).toMatch(/timed out/);
    expect(server.requests()).toBe(2);
    expect(performance.now() - started).toBeLessThan(10_000); // 2 × 200 ms, generously
    await expectNothingCached(manager, server.requests);
  });

  it('a body that trickles slower than the timeout: the timeout covers the body read too', async () => {
    let closedEarly = 0;
    const server = await serve((_request, response) => {
      response.writeHead(200, json);
      let sent = 0;
      const timer = setInterval(() => {
        if (sent >= GOOD.length) {
          clearInterval(timer);
          response.end();
          return;
        }
        response.write(GOOD[sent]!);
        sent += 1;
      }, 50); // ~60 chars × 50 ms = 3 s in total, against a 300 ms timeout
      response.on('close', () => {
        clearInterval(timer);
        if (sent < GOOD.length) closedEarly += 1;
      });
    });
    const manager = managerFor(server.url, { timeoutMs: 300, retry: { attempts: 2, baseDelayMs: 5 } });
    const error = await failure(manager.getToken('ap'));
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect(error.message).toMatch(/timed out/);
    expect(server.requests()).toBe(2);
    await vi.waitFor(() => expect(closedEarly).toBe(2)); // the client hung up on both trickles
  });

  it.each([500, 502, 503, 504])('HTTP %i: retried, then ProviderUnavailableError with the status; nothing cached', async (status) => {
    const server = await serve((_request, response) => response.writeHead(status, json).end('{"error":"upstream"}'));
    const manager = managerFor(server.url);
    const error = await failure(manager.getToken('ap'));
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect(error).toMatchObject({ status, provider: 'ap' });
    expect(server.requests()).toBe(3);
    await expectNothingCached(manager, server.requests);
  });

  it('429 with Retry-After: waits that long between attempts, then RateLimitedError with retryAfterMs and a cool-down', async () => {
    const times: number[] = [];
    const server = await serve((_request, response) => {
      times.push(performance.now());
      response.writeHead(429, { ...json, 'retry-after': '1' }).end('{"code":"too_many_requests"}');
    });
    tokens = createTokenManager({
      providers: { ap: alternativePayments({ clientId: 'id', clientSecret: 'secret', baseUrl: server.url, rateLimit: false }) },
      retry: { attempts: 2, baseDelayMs: 5 },
    });
    const error = await failure(tokens.getToken('ap'));
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ status: 429, retryAfterMs: 1000 });
    expect(server.requests()).toBe(2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(900);
    // The cool-down lasts the Retry-After: callers get the error without a request.
    await expect(tokens.getToken('ap')).rejects.toBeInstanceOf(RateLimitedError);
    expect(server.requests()).toBe(2);
    expect(tokens.stats().tokensIssued.total).toBe(0);
  });

  it('429 without Retry-After: exponential backoff, then RateLimitedError without retryAfterMs; nothing cached', async () => {
    const server = await serve((_request, response) => response.writeHead(429, json).end('{"code":"too_many_requests"}'));
    const manager = managerFor(server.url);
    const error = await failure(manager.getToken('ap'));
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBeUndefined();
    expect(server.requests()).toBe(3);
    await expectNothingCached(manager, server.requests);
  });

  it('malformed JSON on a 200: InvalidTokenResponseError, not retried, nothing cached', async () => {
    const server = await serve((_request, response) => response.writeHead(200, json).end('{"access_token":"abc","token_type":'));
    const manager = managerFor(server.url);
    const error = await failure(manager.getToken('ap'));
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expect(server.requests()).toBe(1);
    await expectNothingCached(manager, server.requests);
  });

  it.each([
    ['chunked, no length', false],
    ['with Content-Length', true],
  ])('a 10 MB body (%s): the read stops early, then InvalidTokenResponseError; not retried', async (_name, declared) => {
    const TOTAL = 10 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let written = 0;
    let finished = false;
    const closed: number[] = [];
    const server = await serve((_request, response) => {
      response.writeHead(200, declared ? { ...json, 'content-length': String(TOTAL) } : json);
      const pump = () => {
        while (written < TOTAL && !response.destroyed) {
          written += chunk.length;
          if (!response.write(chunk)) {
            response.once('drain', pump);
            return;
          }
        }
        if (written >= TOTAL && !response.destroyed) {
          finished = true;
          response.end();
        }
      };
      response.on('close', () => closed.push(written));
      pump();
    });
    const manager = managerFor(server.url);
    const error = await failure(manager.getToken('ap'));
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expect(error.message).toMatch(/larger than 262144 bytes/);
    expect(server.requests()).toBe(1);
    await vi.waitFor(() => expect(closed).toHaveLength(1));
    // The client hung up before the server could write everything (kernel buffers hold a few MB at most).
    expect(finished).toBe(false);
    expect(closed[0]).toBeLessThan(TOTAL);
    await expectNothingCached(manager, server.requests);
  });

  it('wrong content type with a non-JSON body: InvalidTokenResponseError naming the type; nothing cached', async () => {
    const server = await serve((_request, response) => response.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Login</body></html>'));
    const manager = managerFor(server.url);
    const error = await failure(manager.getToken('ap'));
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expect(error.message).toMatch(/not JSON \(text\/html\)/);
    expect(server.requests()).toBe(1);
    await expectNothingCached(manager, server.requests);
  });

  it('wrong content type on a valid token body: accepted by the built-in JSON providers (documented leniency)', async () => {
    const server = await serve((_request, response) => response.writeHead(200, { 'content-type': 'text/plain' }).end(GOOD));
    const manager = managerFor(server.url);
    await expect(manager.getToken('ap')).resolves.toMatchObject({ accessToken: 'good-token' });
  });

  describe('a redirect on the token endpoint is never followed', () => {
    const cases: Array<[string, (tokenBase: string) => Provider, string]> = [
      ['alternativePayments', (base) => alternativePayments({ clientId: 'id', clientSecret: 'secret', baseUrl: base }), '/oauth/token'],
      ['autopay', (base) => autopay({ clientId: 'id', clientSecret: 'secret', tokenUrl: `${base}/oauth/token` }), '/oauth/token'],
      ['oauth2', (base) => oauth2({ clientId: 'id', clientSecret: 'secret', tokenUrl: `${base}/oauth/token` }), '/oauth/token'],
    ];
    it.each(cases.flatMap(([name, make, path]) => [301, 302, 303, 307, 308].map((status) => [name, status, make, path] as const)))(
      '%s, HTTP %i to another origin: InvalidTokenResponseError, the other origin sees no request',
      async (_name, status, make, path) => {
        const elsewhere = await serve((_request, response) => response.writeHead(200, json).end(GOOD));
        const server = await serve((_request, response) => response.writeHead(status, { location: `${elsewhere.url}${path}` }).end());
        tokens = createTokenManager({ providers: { p: make(server.url) }, retry: { attempts: 3, baseDelayMs: 5 }, failureCooldownMs: 0 });
        const error = await failure(tokens.getToken('p'));
        expect(error).toBeInstanceOf(InvalidTokenResponseError);
        expect(error).toMatchObject({ status, provider: 'p' });
        expect(server.requests()).toBe(1); // a redirect is an answer, not a transient failure
        expect(elsewhere.requests()).toBe(0);
        expect(tokens.stats().tokensIssued.total).toBe(0);
      },
    );
  });
});

describe('a token expiring while requests are in flight (emulator)', () => {
  let emulator: Emulator;
  let clock = 0;
  beforeEach(async () => {
    clock = 0;
    emulator = await startEmulator({
      now: () => Date.now() + clock,
      ban: false,
      alternativePaymentsRateLimitPerSecond: 0,
      alternativePaymentsApiRateLimitPerSecond: 0,
    });
    servers.push(emulator);
  });

  const apManager = () =>
    createTokenManager({
      providers: {
        ap: alternativePayments({
          clientId: 'ap-sample-client',
          clientSecret: 'ap-sample-secret-K7+x/Q=9%z:w',
          baseUrl: emulator.alternativePaymentsBaseUrl,
          rateLimit: false, // 50 concurrent calls about token expiry; pacing has test/pacing/
        }),
      },
    });

  it('the provider expires the token under 50 concurrent API calls: exactly one new token, every call succeeds', async () => {
    tokens = apManager();
    const api = tokens.fetch('ap');
    const url = `${emulator.alternativePaymentsBaseUrl}/customers?limit=1`;
    expect((await api(url)).status).toBe(200);
    // The provider's clock passes expiry; ours still thinks the token is good, so every call in flight gets a 401.
    clock = 3_601_000;
    const statuses = await Promise.all(Array.from({ length: 50 }, () => api(url).then((r) => r.status)));
    expect(statuses.every((s) => s === 200)).toBe(true);
    const stats = emulator.stats().providers['alternative-payments'];
    expect(stats.tokensIssued).toBe(2);
    expect(tokens.stats().tokensIssued).toMatchObject({ coldStart: 1, invalidated: 1, total: 2 });
  });

  it('2-second tokens under continuous concurrent load for 4 s: no caller sees a 401, refreshes stay near the minimum', async () => {
    emulator.configure({ tokenLifetimeSeconds: { alternativePayments: 2 } });
    tokens = apManager();
    const api = tokens.fetch('ap');
    const url = `${emulator.alternativePaymentsBaseUrl}/customers?limit=1`;
    const statuses = new Map<number, number>();
    const until = performance.now() + 4_000;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (performance.now() < until) {
          const token = await tokens!.getToken('ap');
          expect(Date.now()).toBeLessThan(token.expiresAt);
          const { status } = await api(url);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      }),
    );
    expect([...statuses.keys()]).toEqual([200]);
    const issued = emulator.stats().providers['alternative-payments'].tokensIssued;
    // 4 s of 2 s tokens refreshed ahead at half-life: about 4-5; never one per call.
    expect(issued).toBeGreaterThanOrEqual(2);
    expect(issued).toBeLessThanOrEqual(10);
  });
});

describe('the clock jumping (fake timers)', () => {
  const HOUR = 3_600_000;
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('forward past expiry: a fresh token, never the expired one', async () => {
    const fake = fakeProvider({ fallback: () => tokenBody(3600) });
    tokens = createTokenManager({ providers: { p: fake.provider } });
    const first = await tokens.getToken('p');
    vi.setSystemTime(Date.now() + 2 * HOUR);
    const second = await tokens.getToken('p');
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.expiresAt).toBeGreaterThan(Date.now());
    expect(fake.calls()).toBe(2);
    expect(tokens.stats().tokensIssued).toMatchObject({ coldStart: 1, expiry: 1, total: 2 });
  });

  it('forward into the refresh window: the current token is served while one background refresh runs', async () => {
    const fake = fakeProvider({ fallback: () => tokenBody(3600) });
    tokens = createTokenManager({ providers: { p: fake.provider } });
    const first = await tokens.getToken('p');
    vi.setSystemTime(Date.now() + HOUR - 120_000);
    const during = await Promise.all(Array.from({ length: 20 }, () => tokens!.getToken('p')));
    expect(during.every((t) => t.accessToken === first.accessToken)).toBe(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.calls()).toBe(2);
  });

  it('backward: no crash, no extra request, and the token is not served past its real expiry', async () => {
    const fake = fakeProvider({ fallback: () => tokenBody(3600) });
    tokens = createTokenManager({ providers: { p: fake.provider }, refreshAhead: false });
    const first = await tokens.getToken('p');
    vi.setSystemTime(Date.now() - 2 * HOUR); // the wall clock steps back two hours
    for (let i = 0; i < 10; i++) expect((await tokens.getToken('p')).accessToken).toBe(first.accessToken);
    expect(fake.calls()).toBe(1);
    // Real time passes beyond the token's lifetime (the wall clock still reads an hour earlier than issuance).
    await vi.advanceTimersByTimeAsync(HOUR);
    const later = await tokens.getToken('p');
    expect(later.accessToken).not.toBe(first.accessToken);
    expect(fake.calls()).toBe(2);
  });

  it('backward, with one credential under two ids: its deadlines move back once, not once per id', async () => {
    const fake = fakeProvider({ fallback: () => tokenBody(3600) });
    tokens = createTokenManager({ providers: { a: fake.provider, b: fake.provider }, refreshAhead: false });
    const first = await tokens.getToken('a');
    expect((await tokens.getToken('b')).accessToken).toBe(first.accessToken);
    vi.setSystemTime(Date.now() - 10 * 60_000); // back 10 minutes
    await vi.advanceTimersByTimeAsync(5_000); // the clock check runs
    // 55 minutes of real time later the token has 4.5 usable minutes left; shifted back twice (20 minutes
    // instead of 10) it would look expired and be fetched again.
    await vi.advanceTimersByTimeAsync(55 * 60_000);
    expect((await tokens.getToken('a')).accessToken).toBe(first.accessToken);
    expect(fake.calls()).toBe(1);
  });

  it('backward while a refresh is due: a single request, the guard is not confused', async () => {
    const fake = fakeProvider({ fallback: () => tokenBody(600) });
    tokens = createTokenManager({ providers: { p: fake.provider } });
    for (let step = 0; step < 50; step++) {
      await vi.advanceTimersByTimeAsync(60_000);
      if (step % 10 === 5) vi.setSystemTime(Date.now() - 300_000);
      const token = await tokens.getToken('p');
      expect(Date.now()).toBeLessThan(token.expiresAt);
    }
    // 50 minutes of real time with 10-minute tokens: about 5-6 tokens plus at most one per backward jump.
    expect(fake.calls()).toBeLessThanOrEqual(12);
    expect(tokens.stats().guardRefusals).toBe(0);
  });
});
