/**
 * Issue 20, in one process: the call budget's algorithm, the wait and its deadline, aborts, 429 pauses,
 * and the validation of the new options. Fake timers where the clock matters.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { alternativePayments, autopay, ConfigError, createTokenManager, defineProvider, oauth2, RateLimitedError, type TokenManager } from '../../src/index.js';
import { MemoryCallBudget } from '../../src/stores/call-budget.js';
import { fakeProvider } from '../helpers/fake-provider.js';
import { startLoopbackServer, type LoopbackServer } from '../helpers/loopback-server.js';

function pacedProvider(requests: number, perMs: number, apiBaseUrl?: string) {
  const fake = fakeProvider({ apiBaseUrl });
  // Same token function, with a rate limit.
  return defineProvider({
    kind: 'fake',
    tokenUrl: 'https://auth.example.test/oauth/token',
    clientId: 'paced',
    clientSecret: 'paced-secret',
    apiBaseUrl,
    rateLimit: { requests, perMs },
    requestToken: (context) => fake.provider.requestToken(context),
  });
}

/** Checks that no window of `perMs` holds more than `requests` of the sorted `times`. */
function maxInWindow(times: number[], perMs: number): number {
  let most = 0;
  for (let i = 0; i < times.length; i++) {
    let j = i;
    while (j < times.length && times[j]! < times[i]! + perMs) j++;
    most = Math.max(most, j - i);
  }
  return most;
}

describe('the memory call budget', () => {
  afterEach(() => vi.useRealTimers());

  it('places calls so that no window holds more than the limit, and refuses past maxWaitMs without keeping the call', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const budget = new MemoryCallBudget();
    const limit = { requests: 3, perMs: 1000 };
    const waits = Array.from({ length: 9 }, (_, i) => budget.reserve('k', `c${i}`, limit, 2_000));
    expect(waits).toEqual([0, 0, 0, 1000, 1000, 1000, 2000, 2000, 2000]);
    expect(budget.reserve('k', 'late', limit, 2_000)).toBe(-3000);
    // A waiter's second look at its time: still its slot.
    vi.advanceTimersByTime(1000);
    expect(budget.reserve('k', 'c3', limit, 2_000)).toBe(0);
    expect(maxInWindow([0, 0, 0, 1000, 1000, 1000, 2000, 2000, 2000], 1000)).toBe(3);
  });

  it('moves a confirmed call to its answer time, pushing the next window back', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const budget = new MemoryCallBudget();
    const limit = { requests: 1, perMs: 1000 };
    expect(budget.reserve('k', 'a', limit, 5_000)).toBe(0);
    expect(budget.reserve('k', 'b', limit, 5_000)).toBe(1000);
    vi.advanceTimersByTime(40);
    budget.confirm('k', 'a'); // the answer came 40 ms after sending
    vi.advanceTimersByTime(960);
    expect(budget.reserve('k', 'b', limit, 5_000)).toBe(40);
  });

  it('a pause holds every call until it ends', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const budget = new MemoryCallBudget();
    budget.pause('k', 2_000);
    expect(budget.reserve('k', 'a', { requests: 5, perMs: 1000 }, 5_000)).toBe(2000);
  });
});

describe('tokens.acquire', () => {
  let tokens: TokenManager | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    await tokens?.close();
    tokens = undefined;
  });

  it('grants slots in arrival order at the limit, and refuses at once (nothing held) past maxWaitMs', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    // A slot taken with acquire counts from 100 ms after its grant (a tenth of the window).
    tokens = createTokenManager({ providers: { p: pacedProvider(2, 1000) }, maxWaitMs: 3_500 });
    const start = Date.now();
    const granted: number[] = [];
    const outcomes = Array.from({ length: 10 }, (_, i) =>
      tokens!.acquire('p').then(
        () => granted.push(i) && Date.now() - start,
        (error: unknown) => error,
      ),
    );
    await vi.advanceTimersByTimeAsync(0);
    // The two past maxWaitMs are refused at once.
    const refused = await Promise.all([outcomes[8], outcomes[9]]);
    for (const error of refused) {
      expect(error).toBeInstanceOf(RateLimitedError);
      expect((error as RateLimitedError).retryAfterMs).toBe(4000);
      expect((error as RateLimitedError).provider).toBe('p');
    }
    expect(Date.now() - start).toBe(0);
    await vi.advanceTimersByTimeAsync(3_300);
    expect(await Promise.all(outcomes.slice(0, 8))).toEqual([0, 0, 1100, 1100, 2200, 2200, 3300, 3300]);
    expect(granted).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const stats = tokens.stats().byProvider.p!;
    expect(stats.paceRefused).toBe(2);
    expect(stats.paceWaitMs).toBe(2 * 1100 + 2 * 2200 + 2 * 3300);
  });

  it('an abort while queued settles at once and the next caller takes its slot', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    tokens = createTokenManager({ providers: { p: pacedProvider(1, 1000) }, maxWaitMs: 10_000 });
    const start = Date.now();
    await tokens.acquire('p'); // takes the slot at 0
    const controller = new AbortController();
    const second = tokens.acquire('p', { signal: controller.signal }).then(
      () => 'granted',
      (error: unknown) => error,
    );
    const third = tokens.acquire('p').then(() => Date.now() - start);
    await vi.advanceTimersByTimeAsync(100);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await vi.advanceTimersByTimeAsync(0);
    expect(await second).toBe(reason);
    expect(Date.now() - start).toBe(100); // settled at once
    await vi.advanceTimersByTimeAsync(2_000);
    expect(await third).toBe(1100); // the slot the second caller left (after the first's 100 ms), not 2000+
  });

  it('a reported 429 with Retry-After pauses the credential; a provider without rateLimit is not paced', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    tokens = createTokenManager({ providers: { p: pacedProvider(5, 1000), free: fakeProvider().provider }, maxWaitMs: 10_000 });
    const start = Date.now();
    await tokens.reportRateLimited('p', { status: 429, headers: new Headers({ 'retry-after': '2' }) });
    await tokens.reportRateLimited('free', { status: 429, headers: new Headers() });
    await tokens.reportRateLimited('p', { status: 200, headers: new Headers({ 'retry-after': '60' }) }); // ignored
    await tokens.acquire('free');
    expect(Date.now() - start).toBe(0);
    const paused = tokens.acquire('p').then(() => Date.now() - start);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(await paused).toBe(2000);
    expect(tokens.stats().byProvider.p!.apiRateLimited).toBe(1);
    expect(tokens.stats().byProvider.free!.apiRateLimited).toBe(1);
  });

  it('x-ratelimit-reset (a UNIX time) sets the pause when there is no Retry-After; neither: one window', async () => {
    vi.useFakeTimers({ now: 1_000_000_000 });
    tokens = createTokenManager({ providers: { a: pacedProvider(5, 1000), b: pacedProvider(5, 700) } });
    await tokens.reportRateLimited('a', { status: 429, headers: new Headers({ 'x-ratelimit-reset': String(1_000_000_000 / 1000 + 3) }) });
    const start = Date.now();
    const a = tokens.acquire('a').then(() => Date.now() - start);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(await a).toBe(3000);
  });
});

describe('through tokens.fetch() and tokens.client()', () => {
  let server: LoopbackServer;
  let tokens: TokenManager | undefined;
  let arrivals: number[];
  let answer429: (() => Record<string, string> | undefined) | undefined;

  afterEach(async () => {
    await tokens?.close();
    tokens = undefined;
    await server?.close();
  });

  async function start(rateLimit: { requests: number; perMs: number } | false, maxWaitMs: number): Promise<TokenManager> {
    arrivals = [];
    answer429 = undefined;
    server = await startLoopbackServer((request, response) => {
      if (request.url === '/oauth/token') {
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'tok', token_type: 'bearer', expires_in: 3600 }));
        return;
      }
      arrivals.push(Date.now());
      const headers = answer429?.();
      if (headers !== undefined) {
        response.writeHead(429, headers).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    tokens = createTokenManager({
      providers: { ap: alternativePayments({ clientId: 'id', clientSecret: 'secret', baseUrl: server.url, rateLimit }) },
      maxWaitMs,
    });
    await tokens.getToken('ap');
    return tokens;
  }

  it('overload: the server sees at most the limit per window; callers past maxWaitMs fail at once and are never sent', async () => {
    // The second five wait one window (plus the first five's answer times), the last ten would wait two.
    const manager = await start({ requests: 5, perMs: 1000 }, 1_500);
    const fetch = manager.fetch('ap');
    const begun = Date.now();
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`${server.url}/customers`).then(
          (response) => ({ ok: response.status, at: Date.now() - begun }),
          (error: unknown) => ({ error, at: Date.now() - begun }),
        ),
      ),
    );
    const refused = results.filter((r) => 'error' in r);
    expect(refused).toHaveLength(10);
    for (const r of refused) {
      expect((r as { error: unknown }).error).toBeInstanceOf(RateLimitedError);
      expect(r.at).toBeLessThan(1_500 + 50);
    }
    expect(results.filter((r) => 'ok' in r && r.ok === 200)).toHaveLength(10);
    expect(arrivals).toHaveLength(10); // nothing sent for the refused ones
    expect(maxInWindow(arrivals, 1000)).toBeLessThanOrEqual(5);
    expect(manager.stats().byProvider.ap!.paceRefused).toBe(10);
  });

  it('a 429 pauses the credential and the call (a POST too) is sent again within the deadline', async () => {
    const manager = await start({ requests: 5, perMs: 1000 }, 5_000);
    let first = true;
    answer429 = () => {
      if (!first) return undefined;
      first = false;
      return { 'retry-after': '1' };
    };
    const begun = Date.now();
    const response = await manager.client('ap').post('customers', { json: { name: 'x' } });
    expect(response.status).toBe(200);
    expect(arrivals).toHaveLength(2);
    expect(arrivals[1]! - arrivals[0]!).toBeGreaterThanOrEqual(990);
    expect(Date.now() - begun).toBeLessThan(4_000);
    expect(manager.stats().byProvider.ap!.apiRateLimited).toBe(1);
  });

  it('with rateLimit: false nothing is paced and a 429 reaches the caller', async () => {
    const manager = await start(false, 5_000);
    answer429 = () => ({});
    const response = await manager.fetch('ap')(`${server.url}/customers`);
    expect(response.status).toBe(429);
    expect(manager.stats().byProvider.ap!.apiRateLimited).toBe(1);
  });
});

describe('validation', () => {
  it('rejects bad rateLimit values on every provider and a bad maxWaitMs, listing each issue', () => {
    const bad = { requests: 0, perMs: 1.5 };
    for (const make of [
      () => alternativePayments({ clientId: 'i', clientSecret: 's', rateLimit: bad }),
      () => autopay({ clientId: 'i', clientSecret: 's', rateLimit: bad }),
      () => oauth2({ tokenUrl: 'https://auth.example.test/token', clientId: 'i', clientSecret: 's', rateLimit: bad }),
      () =>
        defineProvider({ kind: 'x', tokenUrl: 'https://a.test/t', clientId: 'i', clientSecret: 's', rateLimit: bad, requestToken: async () => ({ body: {} }) }),
      () => alternativePayments({ clientId: 'i', clientSecret: 's', rateLimit: true as never }),
    ]) {
      expect(make).toThrow(ConfigError);
      expect(make).toThrow(/rateLimit/);
    }
    expect(() => createTokenManager({ maxWaitMs: -1 })).toThrow(ConfigError);
    expect(() => createTokenManager({ maxWaitMs: -1 })).toThrow(/maxWaitMs/);
    expect(alternativePayments({ clientId: 'i', clientSecret: 's' }).rateLimit).toEqual({ requests: 5, perMs: 1000 });
    expect(alternativePayments({ clientId: 'i', clientSecret: 's', rateLimit: false }).rateLimit).toBeUndefined();
    expect(autopay({ clientId: 'i', clientSecret: 's' }).rateLimit).toBeUndefined();
    expect(autopay({ clientId: 'i', clientSecret: 's', rateLimit: { requests: 10, perMs: 1000 } }).rateLimit).toEqual({ requests: 10, perMs: 1000 });
  });
});
