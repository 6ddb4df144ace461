/**
 * Sending one attempt of a proxied call upstream and mapping what goes wrong: through reply-from
 * (undici) with `Authorization: Bearer`, or through the provider's own `authorizedFetch` (an `oauth2()`
 * provider: its transport, a fresh DPoP proof per call). Either way the answer comes back as an
 * {@link UpstreamAnswer} for the caller's 401/429/size policy.
 */
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { authorizationValue, type Token } from '../../../base/token.js';
import type { Provider } from '../../../providers/provider.js';
import type { BrokerError } from '../errors.js';
import { BodyTimeoutError, BodyTooLargeError, type ProxyBody } from './body.js';
import type { ProxyLimits } from './config.js';
import { fromHeaders, upstreamHeaders } from './headers.js';

/** What an upstream attempt answered: status, headers and a body to pass back or discard. */
export interface UpstreamAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly stream: Readable | undefined;
}

/** Methods retried once on a connection the upstream had closed (idempotent, RFC 9110 §9.2.2, and bodiless). */
const RETRYABLE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * reply-from's retry policy for one call: once, at once, an idempotent call without a body whose
 * kept-alive connection turned out closed by the upstream (`UND_ERR_SOCKET`). Nothing else — never a
 * POST (a payment must not be sent twice), never on an answer (a 503 goes back as it is).
 */
function retryDelay({ err, req, attempt }: { err?: { code?: string } | null; req: { method: string; body?: unknown }; attempt: number }): number | null {
  return attempt === 0 && err?.code === 'UND_ERR_SOCKET' && RETRYABLE.has(req.method) && (req.body === undefined || req.body === '') ? 1 : null;
}

/** What the proxy does with an attempt's outcome (index.ts): the answer, or the failure to send one. */
export interface AttemptOutcome {
  answer(request: FastifyRequest, reply: FastifyReply, answer: UpstreamAnswer): void;
  failure(reply: FastifyReply, error: unknown): void;
}

/** reply-from's options for one call; every callback reads the call from the request. */
export type LibraryOptions = Readonly<Record<string, unknown>>;

const NO_HEADERS: Readonly<Record<string, never>> = Object.freeze({});

/**
 * reply-from's options, made once per proxy rather than once per call: each callback finds what it
 * needs in `request.proxyCall` (the URL, the query, the token, the API's host).
 */
export function libraryOptions(outcome: AttemptOutcome): LibraryOptions {
  return {
    queryString: (_search: string, _url: string, request: FastifyRequest) => request.proxyCall!.query,
    retryDelay,
    rewriteRequestHeaders: (request: FastifyRequest, headers: Record<string, string | string[] | undefined>) => {
      const call = request.proxyCall!;
      return upstreamHeaders(headers as Record<string, string>, {
        authorization: authorizationValue(call.token!.accessToken),
        host: call.host,
        'x-request-id': request.id,
      });
    },
    // Headers are set by the outcome (after the 401 and size checks), not copied by the library.
    rewriteHeaders: (headers: Record<string, string | string[] | undefined>, request: FastifyRequest) => {
      request.proxyCall!.answerHeaders = headers;
      return NO_HEADERS;
    },
    onResponse: (request: FastifyRequest, reply: FastifyReply, response: { statusCode: number; stream: Readable }) =>
      outcome.answer(request, reply, { status: response.statusCode, headers: request.proxyCall!.answerHeaders, stream: response.stream }),
    onError: (reply: FastifyReply, { error }: { error: unknown }) => outcome.failure(reply, error),
  };
}

/** Forwards the request's call through reply-from (undici), `Authorization: Bearer` (options from {@link libraryOptions}). */
export function viaLibrary(request: FastifyRequest, reply: FastifyReply, options: LibraryOptions): void {
  const call = request.proxyCall!;
  const body = call.body;
  // reply-from reads a streamed body from request.body; a buffered one is handed over (and can be sent again).
  request.body = body.kind === 'streamed' ? body.stream : undefined;
  const from = (reply as unknown as { from: (source: string, options: LibraryOptions) => void }).from;
  from.call(
    reply,
    call.url,
    body.kind === 'buffered' ? { ...options, body: body.buffer, contentType: request.headers['content-type'] ?? 'application/octet-stream' } : options,
  );
}

/** Forwards through the provider's own `authorizedFetch` (a DPoP proof per request, its transport). */
export async function viaProvider(
  provider: Provider,
  request: FastifyRequest,
  reply: FastifyReply,
  token: Token,
  url: string,
  body: ProxyBody,
  limits: ProxyLimits,
  onAnswer: (answer: UpstreamAnswer) => void,
  onFailure: (error: unknown) => void,
): Promise<void> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(upstreamHeaders(request.headers, { 'x-request-id': request.id }))) {
    if (name === 'content-length') continue;
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else headers.set(name, value);
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new UpstreamTimeoutError()), limits.responseTimeoutMs);
  const onClose = () => controller.abort();
  reply.raw.once('close', onClose);
  let response: Response;
  try {
    const init: RequestInit & { duplex?: 'half' } = {
      method: request.method,
      headers,
      signal: controller.signal,
      ...(body.kind === 'buffered'
        ? { body: body.buffer }
        : body.kind === 'streamed'
          ? { body: Readable.toWeb(body.stream) as ReadableStream, duplex: 'half' }
          : {}),
    };
    response = await provider.authorizedFetch!(new Request(url, init), token);
  } catch (error) {
    onFailure(controller.signal.aborted && controller.signal.reason instanceof UpstreamTimeoutError ? controller.signal.reason : error);
    return;
  } finally {
    clearTimeout(timer);
    reply.raw.off('close', onClose);
  }
  onAnswer({
    status: response.status,
    headers: fromHeaders(response.headers),
    stream: response.body === null ? undefined : Readable.fromWeb(response.body as NodeReadableStream),
  });
}

/** No answer headers within `proxy.responseTimeoutMs` (the DPoP path, which has no undici timeouts of its own). */
class UpstreamTimeoutError extends Error {
  override readonly name = 'UpstreamTimeoutError';
}

/** The typed answer for a call that got no usable answer from upstream. */
export function upstreamFailure(error: unknown, limits: ProxyLimits): BrokerError {
  const cause = (error as { cause?: unknown } | null)?.cause;
  if (error instanceof BodyTimeoutError || cause instanceof BodyTimeoutError) {
    return { status: 408, code: 'request_timeout', message: 'The request body did not arrive within limits.requestTimeoutMs' };
  }
  if (error instanceof BodyTooLargeError || cause instanceof BodyTooLargeError) {
    return { status: 413, code: 'payload_too_large', message: `Request bodies through the proxy are limited to ${limits.maxBodyBytes} bytes` };
  }
  const codes = [error, cause, (cause as { cause?: unknown } | null)?.cause].map((e) => (e as { code?: unknown } | null)?.code);
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  if (error instanceof UpstreamTimeoutError || status === 504 || codes.some((code) => TIMEOUT_CODES.has(String(code)))) {
    return {
      status: 504,
      code: 'upstream_timeout',
      message: 'The API did not answer within the proxy timeouts (proxy.connectTimeoutMs, proxy.responseTimeoutMs)',
    };
  }
  if (codes.includes('UND_ERR_HEADERS_OVERFLOW')) {
    return { status: 502, code: 'upstream_invalid_response', message: "The API's response headers are over proxy.maxResponseHeaderBytes" };
  }
  return { status: 502, code: 'upstream_unavailable', message: 'The API could not be reached, or closed the connection without an answer' };
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT', 'FST_REPLY_FROM_GATEWAY_TIMEOUT']);
export function contentLength(headers: Readonly<Record<string, string | string[] | undefined>>): number | undefined {
  const value = headers['content-length'];
  if (typeof value !== 'string' || value === '') return undefined;
  const length = Number(value);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}

/** Drops an upstream body: read to the end (the connection can be reused), or destroyed (too large). */
export function discard(stream: Readable | undefined, destroy = false): void {
  if (stream === undefined) return;
  stream.on('error', () => {});
  if (destroy) stream.destroy();
  else stream.resume();
}
