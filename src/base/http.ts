/**
 * One token POST over ky: the request (never following a redirect), the bounded read of the answer,
 * and the mapping of transport and HTTP failures to typed errors.
 */
import ky, { isNetworkError } from 'ky';
import { InvalidTokenResponseError, ProviderUnavailableError, RateLimitedError, safeCause, type TokenError } from './errors.js';
import { parseQuota, parseRetryAfter } from './headers.js';
import type { TokenResponse } from './token.js';

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
      retry: 0, // the issuer (core/issuer.ts) retries, with the guard and the stats in view
      timeout: false, // the issuer's per-attempt signal is the timeout
      throwHttpErrors: false,
    });
  } catch (error) {
    throw transportError(error, request.signal, request.scrub, request.url);
  }
  return readTokenAnswer(response, request.signal, request.scrub);
}

/**
 * Reads a token endpoint's answer: the body as text, at most {@link MAX_TOKEN_RESPONSE_BYTES}, and
 * parsed as JSON when it is JSON. A body that breaks off becomes a {@link ProviderUnavailableError}.
 */
export async function readTokenAnswer(response: Response, signal: AbortSignal, scrub: (text: string) => string): Promise<TokenHttpResponse> {
  let text: string;
  try {
    text = await readBoundedText(response, MAX_TOKEN_RESPONSE_BYTES);
  } catch (error) {
    if (error instanceof InvalidTokenResponseError) throw error;
    throw transportError(error, signal, scrub, response.url);
  }
  return { status: response.status, headers: response.headers, text, json: parseJson(text) };
}

/**
 * Turns a failed request (a fetch, or a custom provider's own code) into a typed error without keeping
 * the library error (it holds the request). With an aborted `signal`, it says timed out or aborted.
 * The message names the host (from `url`, when known; never its path or query) and the cause in words
 * with its system code: `Token request failed: 127.0.0.1:4010: connection refused (ECONNREFUSED)`, not
 * fetch's own `fetch failed`.
 */
export function transportError(error: unknown, signal: AbortSignal | undefined, scrub: (text: string) => string, url?: string): TokenError {
  if (signal?.aborted === true) {
    const reason: unknown = signal.reason;
    const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
    return new ProviderUnavailableError(timedOut ? `Token request timed out (${reason.message})` : 'Token request was aborted', {
      cause: safeCause(reason, scrub),
    });
  }
  const cause = isNetworkError(error) ? (error.cause ?? error) : error;
  // fetch's TypeError('fetch failed') carries the real failure (a system error, or undici's own) as its cause.
  const root = (cause as { cause?: unknown }).cause ?? cause;
  const code = (root as { code?: unknown }).code ?? (cause as { code?: unknown }).code;
  const host = hostOf(url);
  const words = typeof code === 'string' ? SYSTEM_ERRORS[code] : undefined;
  const reason =
    typeof code === 'string'
      ? `${words ?? (root instanceof Error && root.message !== '' ? root.message : 'network error')} (${code})`
      : root instanceof Error && root.message !== ''
        ? root.message
        : cause instanceof Error
          ? cause.message
          : 'unknown error';
  const detail = host === undefined ? reason : `${host}: ${reason}`;
  return new ProviderUnavailableError(`Token request failed: ${scrub(detail)}`, { cause: safeCause(cause, scrub) });
}

/** The common system errors of a connection, in words. */
const SYSTEM_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused (nothing listens there?)',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed, temporarily',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed by the server',
};

/** `host:port` of a URL, or undefined (no URL, or not one). */
function hostOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
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
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), now) ?? quotaResetMs(response.headers, now);
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
