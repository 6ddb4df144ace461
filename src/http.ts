/**
 * Shared HTTP plumbing for token requests: the URL policy, one token POST over ky with a bounded body
 * read, the mapping of HTTP failures to typed errors, `Retry-After` and quota headers, and the retry
 * loop with exponential backoff and full jitter.
 */
import { isIP } from 'node:net';
import ky, { isNetworkError } from 'ky';
import type { ConfigIssue } from './errors.js';
import {
  InvalidTokenResponseError,
  isRetryable,
  ProviderUnavailableError,
  RateLimitedError,
  safeCause,
  type TokenError,
} from './errors.js';
import type { QuotaHint, TokenResponse } from './provider.js';

// ---------------------------------------------------------------------------------------------------
// URL policy

/**
 * True for `localhost`, `127.0.0.0/8` and `::1` (bracketed or not): the only hosts that may be reached
 * over `http://`, and the only ones the emulator listens on.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === 'localhost' || host === '[::1]' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/**
 * Checks a configured URL: it must parse, be `https://` (or `http://` to a loopback host) and carry no
 * user info. Returns the problem, or undefined when the URL is fine.
 */
export function urlIssue(value: string, path: string): ConfigIssue | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { path, message: 'is not a valid absolute URL' };
  }
  if (url.username !== '' || url.password !== '') return { path, message: 'must not contain credentials' };
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') {
    return isLoopbackHost(url.hostname)
      ? undefined
      : { path, message: `must use https:// (http:// is allowed only for loopback hosts, not ${url.hostname})` };
  }
  return { path, message: `must use https://, not ${url.protocol}` };
}

// ---------------------------------------------------------------------------------------------------
// Headers

/**
 * Parses `Retry-After` (delay-seconds or an HTTP-date, RFC 9110 §10.2.3) into milliseconds from `now`.
 * Unparseable or absent → undefined; a date in the past → 0.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/**
 * Reads a provider's own quota from its headers: Auth0's `Auth0-Client-Quota-Limit`
 * (`b=per_hour;q=1000;r=999;t=3600`, `t` in seconds until reset; the tightest bucket wins) or
 * `x-ratelimit-remaining` with `x-ratelimit-reset` (a UNIX time in seconds).
 */
export function parseQuota(headers: Headers, now: number): QuotaHint | undefined {
  let tightest: QuotaHint | undefined;
  const auth0 = headers.get('auth0-client-quota-limit');
  if (auth0 !== null) {
    for (const bucket of auth0.split(',')) {
      const fields = new Map(
        bucket.split(';').map((pair) => {
          const [k, v] = pair.split('=');
          return [k?.trim() ?? '', Number(v?.trim())] as const;
        }),
      );
      const remaining = fields.get('r');
      const resetIn = fields.get('t');
      if (remaining === undefined || resetIn === undefined || !Number.isFinite(remaining) || !Number.isFinite(resetIn)) continue;
      const hint = { remaining, resetAt: now + resetIn * 1000 };
      if (tightest === undefined || hint.remaining < tightest.remaining) tightest = hint;
    }
  }
  const remaining = Number(headers.get('x-ratelimit-remaining') ?? Number.NaN);
  const reset = Number(headers.get('x-ratelimit-reset') ?? Number.NaN);
  if (Number.isFinite(remaining) && Number.isFinite(reset)) {
    const hint = { remaining, resetAt: reset * 1000 };
    if (tightest === undefined || hint.remaining < tightest.remaining) tightest = hint;
  }
  return tightest;
}

// ---------------------------------------------------------------------------------------------------
// One token request

/** Largest token response body read; a bigger one is an error, not an out-of-memory. */
export const MAX_TOKEN_RESPONSE_BYTES = 256 * 1024;

/** One token POST, as a provider describes it. */
export interface TokenHttpRequest {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly signal: AbortSignal;
  /** Removes this provider's secrets from any text quoted in an error. */
  readonly scrub: (text: string) => string;
}

/** A token endpoint's answer with its body read (bounded) as text. */
export interface TokenHttpResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: unknown;
}

/**
 * Sends one token POST. Redirects are never followed: following one would resend the credentials to
 * wherever the server points. Network failures and timeouts become {@link ProviderUnavailableError};
 * every HTTP answer is returned for the provider to interpret.
 */
export async function postTokenRequest(request: TokenHttpRequest): Promise<TokenHttpResponse> {
  let response: Response;
  try {
    response = await ky.post(request.url, {
      headers: request.headers,
      body: request.body,
      signal: request.signal,
      redirect: 'manual',
      retry: 0, // the manager retries, with the guard and the stats in view
      timeout: false, // the manager's per-attempt signal is the timeout
      throwHttpErrors: false,
    });
  } catch (error) {
    throw transportError(error, request.signal, request.scrub);
  }
  return readTokenAnswer(response, request.signal, request.scrub);
}

/**
 * Reads a token endpoint's answer: the body as text, at most {@link MAX_TOKEN_RESPONSE_BYTES}, and
 * parsed as JSON when it is JSON. A body that breaks off becomes a {@link ProviderUnavailableError}.
 */
export async function readTokenAnswer(
  response: Response,
  signal: AbortSignal,
  scrub: (text: string) => string,
): Promise<TokenHttpResponse> {
  let text: string;
  try {
    text = await readBoundedText(response, MAX_TOKEN_RESPONSE_BYTES);
  } catch (error) {
    if (error instanceof InvalidTokenResponseError) throw error;
    throw transportError(error, signal, scrub);
  }
  return { status: response.status, headers: response.headers, text, json: parseJson(text) };
}

/**
 * Turns a failed request (a fetch, or a custom provider's own code) into a typed error without keeping
 * the library error (it holds the request). With an aborted `signal`, it says timed out or aborted.
 */
export function transportError(error: unknown, signal: AbortSignal | undefined, scrub: (text: string) => string): TokenError {
  if (signal?.aborted === true) {
    const reason: unknown = signal.reason;
    const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
    return new ProviderUnavailableError(
      timedOut ? `Token request timed out (${reason.message})` : 'Token request was aborted',
      { cause: safeCause(reason, scrub) },
    );
  }
  const cause = isNetworkError(error) ? (error.cause ?? error) : error;
  const code = (cause as { cause?: { code?: unknown } }).cause?.code ?? (cause as { code?: unknown }).code;
  const detail = typeof code === 'string' ? code : cause instanceof Error ? cause.message : 'unknown error';
  return new ProviderUnavailableError(`Token request failed: ${scrub(detail)}`, { cause: safeCause(cause, scrub) });
}

/** Reads a body as UTF-8 text, refusing more than `maxBytes`. */
export async function readBoundedText(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw new InvalidTokenResponseError(`Token response body is larger than ${maxBytes} bytes`, { status: response.status });
  }
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new InvalidTokenResponseError(`Token response body is larger than ${maxBytes} bytes`, { status: response.status });
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The failures every token endpoint shares, after the provider has handled its own (credentials):
 * 3xx is a refused redirect, 429 is rate limiting, 408 and 5xx are unavailability, anything else
 * non-2xx is an unexpected answer. The quoted body is scrubbed and truncated.
 */
export function commonFailure(response: TokenHttpResponse, scrub: (text: string) => string, now: number): TokenError {
  const { status } = response;
  const quoted = response.text.length > 0 ? `: ${scrub(response.text)}` : '';
  const providerCode = oauthErrorCode(response.json);
  if (status >= 300 && status < 400) {
    const location = response.headers.get('location');
    const where = location === null ? '' : ` to ${safeOrigin(location)}`;
    return new InvalidTokenResponseError(
      `Token endpoint answered with a redirect (HTTP ${status}${where}); tokenbroker never follows redirects with credentials`,
      { status },
    );
  }
  if (status === 429) {
    const retryAfterMs =
      parseRetryAfter(response.headers.get('retry-after'), now) ?? quotaResetMs(response.headers, now);
    return new RateLimitedError(`Token endpoint rate-limited the request (HTTP 429)${quoted}`, {
      status,
      providerCode,
      retryAfterMs,
    });
  }
  if (status === 408 || status >= 500) {
    return new ProviderUnavailableError(`Token endpoint failed (HTTP ${status})${quoted}`, {
      status,
      providerCode,
      retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), now),
    });
  }
  return new InvalidTokenResponseError(`Token endpoint answered HTTP ${status}${quoted}`, { status, providerCode });
}

/** The 2xx path shared by JSON token endpoints: the body must be JSON. */
export function successResponse(response: TokenHttpResponse, now: number): TokenResponse {
  if (response.json === undefined) {
    const type = response.headers.get('content-type') ?? 'no content type';
    throw new InvalidTokenResponseError(`Token response is not JSON (${type})`, { status: response.status });
  }
  return { body: response.json, quota: parseQuota(response.headers, now) };
}

function quotaResetMs(headers: Headers, now: number): number | undefined {
  const quota = parseQuota(headers, now);
  return quota === undefined ? undefined : Math.max(0, quota.resetAt - now);
}

/** The RFC 6749 §5.2 `error` field of a body, when it has one. */
export function oauthErrorCode(json: unknown): string | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const error = (json as { error?: unknown; code?: unknown }).error ?? (json as { code?: unknown }).code;
  return typeof error === 'string' && /^[\x20-\x7e]{1,64}$/.test(error) ? error : undefined;
}

function safeOrigin(location: string): string {
  try {
    return new URL(location).origin;
  } catch {
    return 'a relative location';
  }
}

// ---------------------------------------------------------------------------------------------------
// Retries

/** How failed token requests are retried. */
export interface RetryPolicy {
  /** Total attempts, the first included (default 3). */
  readonly attempts: number;
  /** Base of the exponential backoff, ms (default 250): attempt n waits up to base × 2^(n−1). */
  readonly baseDelayMs: number;
  /** Cap of one backoff delay, ms (default 10 000). */
  readonly maxDelayMs: number;
  /** Longest `Retry-After` waited for inside one call, ms (default 30 000); longer ones end the call. */
  readonly maxRetryAfterMs: number;
}

/** Hooks the retry loop reports through. */
export interface RetryHooks {
  /** Called before each wait. */
  onRetry?(error: TokenError, attempt: number, delayMs: number): void;
  /** Random source in [0, 1), replaceable for tests. */
  random?(): number;
}

/**
 * Runs `attempt` until it succeeds, fails with a non-retryable error, or the attempts are spent.
 * Waits full-jitter exponential backoff (AWS's "full jitter": uniform in [0, cap]) between attempts,
 * or exactly the provider's `Retry-After` when it gave one (its timing beats our guess).
 *
 * Written here rather than taken from ky because the same loop must drive every provider, including
 * openid-client's and custom ones, and the manager counts each attempt against its stats.
 */
export async function withRetries<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  policy: RetryPolicy,
  signal: AbortSignal,
  hooks: RetryHooks = {},
): Promise<T> {
  const random = hooks.random ?? Math.random;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (!isRetryable(error) || n >= policy.attempts || signal.aborted) throw error;
      const delay = retryDelay(error, n, policy, random);
      if (delay === undefined) throw error;
      hooks.onRetry?.(error, n, delay);
      await sleep(delay, signal);
    }
  }
}

function retryDelay(
  error: ProviderUnavailableError | RateLimitedError,
  attempt: number,
  policy: RetryPolicy,
  random: () => number,
): number | undefined {
  if (error.retryAfterMs !== undefined) {
    return error.retryAfterMs > policy.maxRetryAfterMs ? undefined : error.retryAfterMs;
  }
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * cap);
}

/** Waits `ms`, or less if `signal` aborts (then rejects with its reason). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A signal that aborts after `timeoutMs` (reason: a `TimeoutError`) or when `parent` aborts. Built on
 * `setTimeout` rather than `AbortSignal.timeout` so fake timers in tests drive it; `dispose` clears it.
 */
export function attemptSignal(timeoutMs: number, parent: AbortSignal): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onParentAbort = () => controller.abort(parent.reason);
  if (parent.aborted) controller.abort(parent.reason);
  else parent.addEventListener('abort', onParentAbort, { once: true });
  const timer = setTimeout(() => {
    const reason = new Error(`no answer within ${timeoutMs} ms`);
    reason.name = 'TimeoutError';
    controller.abort(reason);
  }, timeoutMs);
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      parent.removeEventListener('abort', onParentAbort);
    },
  };
}
