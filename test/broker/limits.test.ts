/**
 * What a platform team runs into: a provider's long Retry-After, methods, counted framework answers,
 * the ops listener, failed-authentication throttling, readiness during a store outage.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { baseConfig, bearer, KEYS, startHarness, type BrokerHarness } from './helpers.js';

let h: BrokerHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const sample = (text: string, name: string, labels: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
};

describe('rate limits are answered at once', () => {
  it('provider Retry-After: 7 → the consumer gets 503 with retry-after: 7 at once, default retries on', async () => {
    // The default token options (3 attempts): before, the broker slept through the 7 s and timed out.
    h = await startHarness({ config: (emulator) => baseConfig(emulator, { tokens: {} }) });
    h.emulator.configure({ force429: { count: 3, retryAfterSeconds: 7 } });
    const started = Date.now();
    const answer = await h.get('/v1/tokens/autopay', bearer(KEYS.billing));
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(answer.status).toBe(503);
    expect(answer.json).toMatchObject({ error: { code: 'upstream_rate_limited' } });
    expect(answer.headers.get('retry-after')).toBe('7');
    // Asked again during the wait: the same answer, still without a request, with the time left.
    const requests = h.emulator.stats().providers.autopay.tokenRequests;
    const again = await h.get('/v1/tokens/autopay', bearer(KEYS.billing));
    expect(again.status).toBe(503);
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThanOrEqual(5);
    expect(h.emulator.stats().providers.autopay.tokenRequests).toBe(requests);
  });
});

describe('methods and counted answers', () => {
  it('405 for every method but GET/HEAD, OPTIONS and TRACE included', async () => {
    h = await startHarness();
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE']) {
      const status = await new Promise<{ status: number; allow: string | undefined }>((resolve, reject) => {
        const req = httpRequest(`${h!.url}/v1/tokens/ap`, { method }, (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, allow: res.headers.allow });
        });
        req.on('error', reject);
        req.end();
      });
      expect(status, method).toEqual({ status: 405, allow: 'GET, HEAD' });
    }
  });

  it('400, 414 and 431 answers are counted in /metrics', async () => {
    h = await startHarness();
    await h.get('/v1/tokens/%E0%A4%A', bearer(KEYS.billing));
    await h.get(`/v1/tokens/${'x'.repeat(100)}`, bearer(KEYS.billing));
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${h!.url}/v1/tokens/ap`, { headers: { 'x-filler': 'z'.repeat(20_000) } }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });
    // A request line Node cannot parse: 400 from Node itself.
    await new Promise<void>((resolve) => {
      const socket = connect(Number(new URL(h!.url).port), '127.0.0.1', () => socket.end('NOT HTTP\r\n\r\n'));
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
      socket.resume();
    });
    const text = (await h.get('/metrics')).text;
    expect(sample(text, 'tokenbroker_http_requests_total', 'route="unmatched",status="400"')).toBe(1);
    expect(sample(text, 'tokenbroker_http_requests_total', 'route="unmatched",status="414"')).toBe(1);
    expect(sample(text, 'tokenbroker_http_requests_total', 'route="unparsed",status="431"')).toBe(1);
    expect(sample(text, 'tokenbroker_http_requests_total', 'route="unparsed",status="400"')).toBe(1);
  });

  it("431 and 408 answer in the broker's JSON, and are counted", async () => {
    h = await startHarness({ config: (emulator) => baseConfig(emulator, { limits: { requestTimeoutMs: 300 } }) });
    const raw = (payload: string) =>
      new Promise<string>((resolve) => {
        let out = '';
        const socket = connect(Number(new URL(h!.url).port), '127.0.0.1', () => socket.write(payload));
        socket.on('data', (data: Buffer) => (out += data.toString()));
        socket.on('close', () => resolve(out));
        socket.on('error', () => resolve(out));
      });
    const big = await raw(`GET /v1/tokens/ap HTTP/1.1\r\nHost: x\r\nX-F: ${'z'.repeat(20_000)}\r\n\r\n`);
    expect(big).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(big.slice(big.indexOf('\r\n\r\n') + 4))).toEqual({
      error: { code: 'headers_too_large', message: expect.stringContaining('maxHeaderBytes') },
    });
    // Headers that never finish: 408 within about a second (Node checks every min(1 s, requestTimeoutMs)).
    const slow = await raw('GET /v1/tokens/ap HTTP/1.1\r\nHost: x\r\n');
    expect(slow).toMatch(/^HTTP\/1\.1 408 /);
    expect(slow).toContain('"code":"request_timeout"');
    const text = (await h.get('/metrics')).text;
    expect(sample(text, 'tokenbroker_http_requests_total', 'route="unparsed",status="431"')).toBe(1);
    expect(sample(text, 'tokenbroker_http_requests_total', 'route="unparsed",status="408"')).toBe(1);
  });
});

describe('the ops listener', () => {
  it('/metrics, /healthz, /readyz answer on the ops port and 404 on the service port', async () => {
    h = await startHarness();
    expect(h.opsUrl).not.toBe(h.url);
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      expect((await fetch(`${h.opsUrl}${path}`)).status, path).toBe(200);
      const onService = await fetch(`${h.url}${path}`);
      expect(onService.status, path).toBe(404);
      await onService.arrayBuffer();
    }
  });

  it('a store outage is degraded, not 503 (unless configured so), while tokens are still served', async () => {
    h = await startHarness({ config: (emulator) => baseConfig(emulator, { store: { type: 'redis', url: 'redis://127.0.0.1:1' } }) });
    expect((await h.get('/v1/tokens/ap', bearer(KEYS.billing))).status).toBe(200);
    const ready = await h.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toMatchObject({ status: 'degraded', checks: { store: 'unreachable' } });
    expect(sample((await h.get('/metrics')).text, 'tokenbroker_store_up', '')).toBe(undefined);
    expect((await h.get('/metrics')).text).toMatch(/^tokenbroker_store_up 0$/m);
    await h.close();
    h = await startHarness({
      config: (emulator) =>
        baseConfig(emulator, { store: { type: 'redis', url: 'redis://127.0.0.1:1' }, ops: { host: '127.0.0.1', port: 0, storeOutage: 'not_ready' } }),
    });
    const strict = await h.get('/readyz');
    expect(strict.status).toBe(503);
    expect(strict.json).toMatchObject({ status: 'not_ready' });
  });
});

describe('abuse limits', () => {
  it('failed authentications are throttled per client IP: 429 with Retry-After for the failures, never for a right key', async () => {
    h = await startHarness({ config: (emulator) => baseConfig(emulator, { limits: { failedAuthPerIp: 3, failedAuthWindowMs: 30_000 } }) });
    for (let i = 0; i < 3; i++) expect((await h.get('/v1/tokens/ap', bearer(`tbk_guess_${i}_0123456789abcdef`))).status).toBe(401);
    const throttled = await h.get('/v1/tokens/ap', bearer('tbk_guess_3_0123456789abcdef'));
    expect(throttled.status).toBe(429);
    expect(throttled.json).toMatchObject({ error: { code: 'too_many_failed_authentications' } });
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(20);
    expect((await h.get('/v1/tokens/ap', {})).status).toBe(429); // no key at all is a failure too
    // A right key from the same address (before: 429 too) is answered normally.
    expect((await h.get('/v1/tokens/ap', bearer(KEYS.billing))).status).toBe(200);
  });

  it('a neighbour behind the same address: 1,000 wrong-key requests from 127.0.0.1, then the right key from 127.0.0.1 → 200', async () => {
    h = await startHarness(); // the default limits: 20 failures a minute
    const statuses = new Map<number, number>();
    for (let batch = 0; batch < 20; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) => h!.get('/v1/tokens/ap', bearer(`tbk_misconfigured_${batch}_${i}_0123456789abcdef`))),
      );
      for (const { status } of answers) statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    expect(Object.fromEntries(statuses)).toEqual({ 401: 20, 429: 980 });
    const good = await h.get('/v1/tokens/ap', bearer(KEYS.billing));
    expect(good.status).toBe(200);
    expect(good.json.access_token).toEqual(expect.any(String));
    expect((await h.get('/v1/tokens/autopay', bearer(KEYS.payouts))).status).toBe(200);
    // The logs: one line per failure up to the limit, one for the first past it, one warning; not 1,000.
    const refusals = h.logs.filter((line) => /"outcome":"refused"/.test(line));
    expect(refusals).toHaveLength(21);
    expect(h.logs.filter((line) => line.includes('too many failed authentications from this address'))).toHaveLength(1);
    // Every answer is still counted for /metrics.
    const metrics = (await h.get('/metrics')).text;
    expect(metrics).toMatch(/tokenbroker_http_requests_total\{[^}]*status="429"[^}]*\} 980/);
  });
});

describe('per-consumer request rates', () => {
  it('a consumer with requestsPerMinute gets 429 consumer_rate_limited beyond it; others are not affected', async () => {
    h = await startHarness({
      config: (emulator) => {
        const config = baseConfig(emulator);
        return { ...config, consumers: config.consumers.map((c) => (c.name === 'payouts' ? { ...c, requestsPerMinute: 2 } : c)) };
      },
    });
    expect((await h.get('/v1/tokens/autopay', bearer(KEYS.payouts))).status).toBe(200);
    expect((await h.get('/v1/tokens/autopay', bearer(KEYS.payouts))).status).toBe(200);
    const limited = await h.get('/v1/tokens/autopay', bearer(KEYS.payouts));
    expect(limited.status).toBe(429);
    expect(limited.json).toMatchObject({ error: { code: 'consumer_rate_limited' } });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(50);
    for (let i = 0; i < 5; i++) expect((await h.get('/v1/tokens/autopay', bearer(KEYS.billing))).status).toBe(200);
  });
});
