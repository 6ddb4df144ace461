import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProviderUnavailableError, RateLimitedError, InvalidCredentialsError } from '../src/index.js';
import { parseQuota, parseRetryAfter } from '../src/base/headers.js';
import { withRetries, type RetryPolicy } from '../src/base/retry.js';
import { urlIssue } from '../src/base/url-policy.js';

describe('Retry-After', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it('reads delay-seconds', () => expect(parseRetryAfter('120', now)).toBe(120_000));
  it('reads an HTTP-date', () => expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000));
  it('a past date is 0', () => expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0));
  it('garbage is ignored', () => expect(parseRetryAfter('soon', now)).toBeUndefined());
});

describe('quota headers', () => {
  const now = 1_000_000;
  it('reads Auth0-Client-Quota-Limit, tightest bucket', () => {
    const headers = new Headers({ 'auth0-client-quota-limit': 'b=per_hour;q=100;r=5;t=60,b=per_day;q=1000;r=0;t=3600' });
    expect(parseQuota(headers, now)).toEqual({ remaining: 0, resetAt: now + 3_600_000 });
  });
  it('reads x-ratelimit-remaining and reset', () => {
    const headers = new Headers({ 'x-ratelimit-remaining': '3', 'x-ratelimit-reset': '2000' });
    expect(parseQuota(headers, now)).toEqual({ remaining: 3, resetAt: 2_000_000 });
  });
});

describe('URL policy', () => {
  it.each(['https://api.example.com', 'http://localhost:8080', 'http://127.0.0.1', 'http://127.1.2.3:9', 'http://[::1]:80'])('accepts %s', (url) =>
    expect(urlIssue(url, 'u')).toBeUndefined(),
  );
  it.each(['http://example.com', 'http://10.0.0.1', 'ftp://example.com', 'not a url', 'https://user:pw@example.com'])('refuses %s', (url) =>
    expect(urlIssue(url, 'u')).toBeDefined(),
  );
});

describe('withRetries: exponential backoff with full jitter', () => {
  afterEach(() => vi.useRealTimers());
  const policy: RetryPolicy = { attempts: 4, baseDelayMs: 100, maxDelayMs: 250, maxRetryAfterMs: 10_000 };

  it('waits random × min(cap, base × 2^(n−1)) between attempts', async () => {
    vi.useFakeTimers();
    const delays: number[] = [];
    const run = withRetries(
      async () => {
        throw new ProviderUnavailableError('down');
      },
      policy,
      new AbortController().signal,
      { random: () => 0.5, onRetry: (_e, _n, delay) => delays.push(delay) },
    ).catch((e: unknown) => e);
    await vi.runAllTimersAsync();
    expect(await run).toBeInstanceOf(ProviderUnavailableError);
    expect(delays).toEqual([50, 100, 125]); // 0.5 × 100, 0.5 × 200, 0.5 × min(250, 400)
  });

  it('uses Retry-After exactly instead of jitter', async () => {
    vi.useFakeTimers();
    const delays: number[] = [];
    let calls = 0;
    const run = withRetries(
      async () => {
        calls += 1;
        if (calls === 1) throw new RateLimitedError('slow down', { retryAfterMs: 7_000 });
        return 'ok';
      },
      policy,
      new AbortController().signal,
      { onRetry: (_e, _n, delay) => delays.push(delay) },
    );
    await vi.advanceTimersByTimeAsync(6_999);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(await run).toBe('ok');
    expect(delays).toEqual([7_000]);
  });

  it('never retries invalid credentials', async () => {
    let calls = 0;
    await expect(
      withRetries(
        async () => {
          calls += 1;
          throw new InvalidCredentialsError('no');
        },
        policy,
        new AbortController().signal,
      ),
    ).rejects.toBeInstanceOf(InvalidCredentialsError);
    expect(calls).toBe(1);
  });
});

describe('a refused connection', () => {
  /** A loopback port nothing listens on: one that was just listened on and closed. */
  async function closedPort(): Promise<number> {
    const { createServer } = await import('node:net');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    return port;
  }

  it('names the host and the cause, not "fetch failed" (issue 23)', async () => {
    const { alternativePayments } = await import('../src/index.js');
    const port = await closedPort();
    const provider = alternativePayments({ clientId: 'id', clientSecret: 'refused-secret-9x', baseUrl: `http://127.0.0.1:${port}` });
    const error = await provider.requestToken({ signal: new AbortController().signal, timeoutMs: 5_000 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect((error as Error).message).toBe(`Token request failed: 127.0.0.1:${port}: connection refused (nothing listens there?) (ECONNREFUSED)`);
  });

  it('the command prints that line', async () => {
    const { runCli } = await import('./cli/helpers.js');
    const port = await closedPort();
    const result = await runCli(['token', 'ap', '--no-cache', '--timeout', '5'], {
      TOKENBROKER_AP_CLIENT_ID: 'id',
      TOKENBROKER_AP_CLIENT_SECRET: 'refused-secret-9x',
      TOKENBROKER_AP_BASE_URL: `http://127.0.0.1:${port}`,
    });
    expect(result.code).toBe(4);
    expect(result.stderr).toContain(`127.0.0.1:${port}: connection refused`);
    expect(result.stderr).toContain('ECONNREFUSED');
    expect(result.stderr).not.toContain('fetch failed');
  }, 30_000);
});
