/**
 * The credential-injecting proxy: `/v1/proxy/:provider/<path>` (any method) goes to the provider's API
 * base with the broker's token attached.
 *
 *   admission (key or certificate, provider allow-list) ─ path under the API base ─ allow rules
 *     ─ body (buffered if replayable, else streamed; both bounded) ─ a slot of the call budget ─ token
 *     ─ upstream: reply-from (undici) with `Bearer`, or the provider's own `authorizedFetch` (oauth2: its
 *       transport, a DPoP proof per request)
 *     ─ 401 ─ invalidate that token ─ fresh token ─ replay once (buffered bodies only)
 *     ─ 429 ─ reported to the call budget ─ passed back
 *     ─ streamed back, bounded; one audit line and the metrics when the answer is done
 */
import { pipeline, Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Token } from '../../../base/token.js';
import type { Provider } from '../../../providers/provider.js';
import { fingerprint } from '../audit.js';
import type { Consumer } from '../config.js';
import { tokenFailure, retryAfterSeconds, type BrokerError } from '../errors.js';
import { proxyAuditLine } from './audit.js';
import { BodyTooLargeError, ByteCounter, prepareBody, type ProxyBody } from './body.js';
import { allowedByRules, type ProxyLimits } from './config.js';
import { consumerHeaders, fromHeaders, toHeaders, upstreamHeaders } from './headers.js';
import { loadReplyFrom, MISSING_LIBRARY_MESSAGE, type ReplyFromImport } from './library.js';
import type { ProxyMetrics } from './metrics.js';
import { PASS_THROUGH_PACER, type CallPacer } from './pacer.js';
import { apiBase, pathProblemMessage, upstreamTarget, upstreamUrl, type UpstreamTarget } from './path.js';

export { PASS_THROUGH_PACER, type CallPacer } from './pacer.js';
export { ProxyMetrics } from './metrics.js';

/** The proxy's route pattern (one for the API base itself, one for everything under it). */
export const PROXY_ROUTE = '/v1/proxy/:provider/*';
const PROXY_BASE_ROUTE = '/v1/proxy/:provider';
const PREFIX_LENGTH = '/v1/proxy/'.length;
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
/** Says why an upstream 401 went back to the consumer unreplayed. */
export const REPLAY_HEADER = 'x-tokenbroker-replay';

declare module 'fastify' {
  interface FastifyRequest {
    /** The proxied call under way (undefined on every other route). */
    proxyCall: ProxyCall | undefined;
  }
}

/** What the proxy needs of the broker. */
export interface ProxyDeps {
  /** Tokens: get the current one, drop one the API rejected (compare-and-delete). */
  readonly tokens: {
    getToken(id: string): Promise<Token>;
    invalidate(id: string, accessToken?: string): boolean;
  };
  /** The call budget; {@link PASS_THROUGH_PACER} until the token manager provides one. */
  readonly pacer: CallPacer;
  readonly limits: ProxyLimits;
  /** The longest a call waits for a token (the broker's `limits.requestTimeoutMs`). */
  readonly tokenTimeoutMs: number;
  /** The providers by id, as the current config has them. */
  readonly providers: () => ReadonlyMap<string, Provider>;
  /** The broker's admission (authentication, known provider, provider allow-list, consumer rate). */
  readonly admit: (request: FastifyRequest<{ Params: { provider: string } }>, reply: FastifyReply, route: string) => Consumer | undefined;
  /** Sends one of the broker's typed error answers. */
  readonly send: (reply: FastifyReply, error: BrokerError) => FastifyReply;
  readonly metrics: ProxyMetrics;
  /** Where audit lines go; undefined when the audit log is off. */
  readonly audit: { line(text: string): void } | undefined;
  /** Tests: replaces `import('@fastify/reply-from')`. */
  readonly importLibrary?: ReplyFromImport;
}

/** One proxied call, for its audit line and metrics. */
interface ProxyCall {
  consumer: Consumer | undefined;
  provider: string | undefined;
  path: string | undefined;
  code: string | undefined;
  upstreamStatus: number | undefined;
  upstreamStart: number;
  upstreamMs: number | undefined;
  /** Bytes of the request body: a count, or a function reading a streamed body's live count. */
  bytesIn: number | (() => number);
  bytesOut: number | (() => number);
  replayed: boolean;
  token: Token | undefined;
  /** Set once its audit line is written (at the answer's end, or when the connection closed first). */
  recorded: boolean;
}

/** What an upstream attempt answered: status, headers and a body to pass back or discard. */
interface UpstreamAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly stream: Readable | undefined;
}

/**
 * Registers the proxy routes on the service listener (in a scope of their own: the proxy reads bodies as
 * streams, whatever their type).
 */
export function registerProxyRoutes(app: FastifyInstance, deps: ProxyDeps): void {
  app.decorateRequest('proxyCall', undefined);
  void app.register(async (scope) => {
    const replyFrom = await loadReplyFrom(deps.importLibrary);
    if (replyFrom === undefined) {
      scope.log.error(MISSING_LIBRARY_MESSAGE);
    } else {
      const { limits } = deps;
      await scope.register(replyFrom, {
        // No retries of the library's own (it retries GET on 503 ten times by default); one retry, of an
        // idempotent call, on a kept-alive connection the upstream had closed (see retryDelay).
        retryMethods: ['GET', 'HEAD', 'OPTIONS'],
        retryDelay: ({ err, attempt }: { err?: { code?: string } | null; attempt: number }) => (attempt === 0 && err?.code === 'UND_ERR_SOCKET' ? 1 : null),
        disableRequestLogging: true,
        undici: {
          connections: 128,
          pipelining: 1,
          // reply-from sets `tls.rejectUnauthorized: false` unless told otherwise (undici reads both `tls` and
          // `connect`, `connect` last): a payment API's certificate is always checked.
          connect: { timeout: limits.connectTimeoutMs, rejectUnauthorized: true },
          headersTimeout: limits.responseTimeoutMs,
          bodyTimeout: limits.responseTimeoutMs,
          maxHeaderSize: limits.maxResponseHeaderBytes,
          tls: { rejectUnauthorized: true },
        },
      });
    }
    // Bodies are not parsed: they go upstream as they came (prepareBody decides buffered or streamed).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    scope.addHook('onResponse', (request, reply, done) => {
      record(request, reply, deps);
      done();
    });
    const handler = replyFrom === undefined ? unavailable(deps) : proxyHandler(deps);
    scope.route({ method: METHODS, url: PROXY_ROUTE, handler, exposeHeadRoute: false });
    scope.route({ method: METHODS, url: PROXY_BASE_ROUTE, handler, exposeHeadRoute: false });
  });
}

function unavailable(deps: ProxyDeps) {
  return (request: FastifyRequest<{ Params: { provider: string } }>, reply: FastifyReply) => {
    request.proxyCall = newCall(undefined);
    if (deps.admit(request, reply, PROXY_ROUTE) === undefined) return reply;
    request.proxyCall.code = 'proxy_unavailable';
    return deps.send(reply, { status: 501, code: 'proxy_unavailable', message: MISSING_LIBRARY_MESSAGE });
  };
}

function newCall(consumer: Consumer | undefined): ProxyCall {
  return {
    consumer,
    provider: undefined,
    path: undefined,
    code: undefined,
    upstreamStatus: undefined,
    upstreamStart: 0,
    upstreamMs: undefined,
    bytesIn: 0,
    bytesOut: 0,
    replayed: false,
    token: undefined,
    recorded: false,
  };
}

function proxyHandler(deps: ProxyDeps) {
  const { limits, tokens, pacer, send } = deps;
  /** Per provider id, the last token promise that resolved: a warm hit is awaited without a timer. */
  const settled = new Map<string, Promise<Token>>();

  const refuse = (reply: FastifyReply, call: ProxyCall, error: BrokerError): FastifyReply => {
    call.code = error.code;
    return send(reply, error);
  };

  async function token(id: string): Promise<Token> {
    const pending = tokens.getToken(id);
    if (settled.get(id) === pending) return pending;
    const got = await withDeadline(pending, deps.tokenTimeoutMs);
    settled.set(id, pending);
    return got;
  }

  return async function handle(request: FastifyRequest<{ Params: { provider: string } }>, reply: FastifyReply): Promise<FastifyReply> {
    const call = newCall(undefined);
    request.proxyCall = call;
    const consumer = deps.admit(request, reply, PROXY_ROUTE);
    if (consumer === undefined) return reply;
    call.consumer = consumer;
    // Fastify's onResponse does not run for an answer cut off (too large, a consumer gone): recorded here then.
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) record(request, reply, deps);
    });
    const id = request.params.provider;
    call.provider = id;
    const provider = deps.providers().get(id);
    if (provider?.apiBaseUrl === undefined) {
      return refuse(reply, call, { status: 404, code: 'no_api_base', message: `Provider "${id}" has no API base URL to proxy to (apiBaseUrl)` });
    }
    const target = upstreamTarget(request.raw.url ?? '', PREFIX_LENGTH);
    if (typeof target === 'string') return refuse(reply, call, { status: 400, code: 'bad_path', message: pathProblemMessage(target) });
    call.path = target.decodedPath;
    const base = apiBase(provider.apiBaseUrl);
    const url = upstreamUrl(base, target);
    if (url === undefined) return refuse(reply, call, { status: 400, code: 'bad_path', message: 'The path leaves the API base' });
    const method = request.method;
    if (!allowedByRules(consumer.allow, id, method, target.decodedPath)) {
      return refuse(reply, call, { status: 403, code: 'proxy_not_allowed', message: `Consumer "${consumer.name}" may not ${method} this path of "${id}"` });
    }
    const declared = Number(request.headers['content-length'] ?? 0);
    const body = declared > limits.maxBodyBytes ? 'too_large' : await prepareBody(request.body as Readable | undefined, limits);
    if (body === 'too_large') {
      // Read and dropped (within the socket's request timeout), so the consumer gets the answer rather than a reset.
      (request.body as Readable | undefined)?.resume();
      reply.header('connection', 'close');
      return refuse(reply, call, { status: 413, code: 'payload_too_large', message: `Request bodies through the proxy are limited to ${limits.maxBodyBytes} bytes` });
    }
    call.bytesIn = body.bytes;
    if (body.kind !== 'none' && (method === 'GET' || method === 'HEAD')) {
      return refuse(reply, call, { status: 400, code: 'bad_request', message: `${method} calls carry no body` });
    }

    const attempt = async (): Promise<void> => {
      const failure = await pace(id, reply);
      if (failure !== undefined) {
        refuse(reply, call, failure);
        return;
      }
      let current: Token;
      try {
        current = await token(id);
      } catch (error) {
        refuse(reply, call, error === TIMED_OUT ? TOKEN_TIMEOUT : tokenFailure(error, id));
        return;
      }
      call.token = current;
      call.upstreamStart = performance.now();
      // As the authorised client does (core/client.ts): a provider that sends its own requests (its
      // transport, a DPoP proof per request) does so here too.
      if (provider.authorizedFetch !== undefined) {
        await viaProvider(provider, request, reply, current, `${url}${target.query === '' ? '' : `?${target.query}`}`, body, limits, onAnswer, onFailure);
      } else {
        viaLibrary(request, reply, current, url, target, base.host, body, onAnswer, onFailure);
      }
    };

    const onFailure = (error: unknown): void => {
      if (reply.sent) return;
      refuse(reply, call, upstreamFailure(error, limits));
    };

    const onAnswer = (answer: UpstreamAnswer): void => {
      call.upstreamMs = round(performance.now() - call.upstreamStart);
      call.upstreamStatus = answer.status;
      deps.metrics.upstream(id, call.upstreamMs / 1000);
      if (answer.status === 401 && !call.replayed) {
        // The token is dropped only if it is still the current one: another call may have replaced it.
        tokens.invalidate(id, call.token!.accessToken);
        if (body.kind !== 'streamed') {
          discard(answer.stream);
          call.replayed = true;
          deps.metrics.replay(id, 'replayed');
          attempt().catch(onFailure);
          return;
        }
        deps.metrics.replay(id, 'not_replayable');
        reply.header(REPLAY_HEADER, `not replayed: the request body was streamed (over proxy.replayBufferBytes, ${limits.replayBufferBytes} bytes)`);
      }
      if (answer.status === 429) {
        pacer.reportRateLimited(id, { status: 429, headers: toHeaders(answer.headers) }).catch((error: unknown) => {
          request.log.warn({ reqId: request.id, provider: id, err: { name: (error as Error)?.name } }, 'proxy: reporting a 429 to the call budget failed');
        });
      }
      const length = contentLength(answer.headers);
      if (length !== undefined && length > limits.maxResponseBytes) {
        discard(answer.stream, true);
        refuse(reply, call, {
          status: 502,
          code: 'upstream_response_too_large',
          message: `The API's answer is over proxy.maxResponseBytes (${limits.maxResponseBytes} bytes)`,
        });
        return;
      }
      reply.code(answer.status).headers(consumerHeaders(answer.headers, request.id));
      if (answer.stream === undefined) {
        reply.send();
      } else if (length !== undefined) {
        call.bytesOut = length;
        reply.send(answer.stream);
      } else {
        const counter = new ByteCounter(limits.maxResponseBytes);
        call.bytesOut = () => counter.bytes;
        pipeline(answer.stream, counter, (error) => {
          if (error !== undefined && error !== null) call.code = error.name === 'ResponseTooLargeError' ? 'upstream_response_too_large' : 'upstream_unavailable';
        });
        reply.send(counter);
      }
    };

    await attempt();
    return reply;
  };

  /** A slot of the call budget, or the answer to send when none came within its wait bound. */
  async function pace(id: string, reply: FastifyReply): Promise<BrokerError | undefined> {
    // No budget, nothing to wait for: no signal and no listener per call.
    if (pacer === PASS_THROUGH_PACER) return undefined;
    let controller: AbortController | undefined;
    const onClose = () => controller?.abort();
    try {
      const pending = pacer.acquire(id, { signal: (controller = new AbortController()).signal });
      reply.raw.once('close', onClose);
      await pending;
      return undefined;
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      if (code !== 'rate_limited') throw error;
      return {
        status: 429,
        code: 'rate_limited',
        message: `The call budget of "${id}" has no free slot within the wait bound; no call was sent`,
        retryAfterSeconds: retryAfterSeconds((error as { retryAfterMs?: unknown }).retryAfterMs),
      };
    } finally {
      reply.raw.off('close', onClose);
    }
  }
}

/** Forwards through reply-from (undici), `Authorization: Bearer`. */
function viaLibrary(
  request: FastifyRequest,
  reply: FastifyReply,
  token: Token,
  url: string,
  target: UpstreamTarget,
  host: string,
  body: ProxyBody,
  onAnswer: (answer: UpstreamAnswer) => void,
  onFailure: (error: unknown) => void,
): void {
  const extra = { authorization: `Bearer ${token.accessToken}`, host, 'x-request-id': request.id };
  let captured: Record<string, string | string[] | undefined> = {};
  // reply-from reads a streamed body from request.body; a buffered one is handed over (and can be sent again).
  request.body = body.kind === 'streamed' ? body.stream : undefined;
  const from = (reply as unknown as { from: (source: string, options: Record<string, unknown>) => void }).from;
  from.call(reply, url, {
    queryString: () => target.query,
    ...(body.kind === 'buffered' ? { body: body.buffer, contentType: request.headers['content-type'] ?? 'application/octet-stream' } : {}),
    rewriteRequestHeaders: (_request: unknown, headers: Record<string, string | string[] | undefined>) =>
      upstreamHeaders(headers as Record<string, string>, extra),
    // Headers are set by onAnswer (after the 401 and size checks), not copied by the library.
    rewriteHeaders: (headers: Record<string, string | string[] | undefined>) => {
      captured = headers;
      return {};
    },
    onResponse: (_request: unknown, _reply: unknown, response: { statusCode: number; stream: Readable }) =>
      onAnswer({ status: response.statusCode, headers: captured, stream: response.stream }),
    onError: (_reply: unknown, { error }: { error: unknown }) => onFailure(error),
  });
}

/** Forwards through the provider's own `authorizedFetch` (a DPoP proof per request, its transport). */
async function viaProvider(
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
      ...(body.kind === 'buffered' ? { body: body.buffer } : body.kind === 'streamed' ? { body: Readable.toWeb(body.stream) as ReadableStream, duplex: 'half' } : {}),
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
function upstreamFailure(error: unknown, limits: ProxyLimits): BrokerError {
  const cause = (error as { cause?: unknown } | null)?.cause;
  if (error instanceof BodyTooLargeError || cause instanceof BodyTooLargeError) {
    return { status: 413, code: 'payload_too_large', message: `Request bodies through the proxy are limited to ${limits.maxBodyBytes} bytes` };
  }
  const codes = [error, cause, (cause as { cause?: unknown } | null)?.cause].map((e) => (e as { code?: unknown } | null)?.code);
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  if (error instanceof UpstreamTimeoutError || status === 504 || codes.some((code) => TIMEOUT_CODES.has(String(code)))) {
    return { status: 504, code: 'upstream_timeout', message: 'The API did not answer within the proxy timeouts (proxy.connectTimeoutMs, proxy.responseTimeoutMs)' };
  }
  if (codes.includes('UND_ERR_HEADERS_OVERFLOW')) {
    return { status: 502, code: 'upstream_invalid_response', message: "The API's response headers are over proxy.maxResponseHeaderBytes" };
  }
  return { status: 502, code: 'upstream_unavailable', message: 'The API could not be reached, or closed the connection without an answer' };
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT', 'FST_REPLY_FROM_GATEWAY_TIMEOUT']);
const TIMED_OUT = new Error('timed out');
const TOKEN_TIMEOUT: BrokerError = { status: 503, code: 'timeout', message: 'No token within the request timeout', retryAfterSeconds: 1 };

function contentLength(headers: Readonly<Record<string, string | string[] | undefined>>): number | undefined {
  const value = headers['content-length'];
  if (typeof value !== 'string' || value === '') return undefined;
  const length = Number(value);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}

/** Drops an upstream body: read to the end (the connection can be reused), or destroyed (too large). */
function discard(stream: Readable | undefined, destroy = false): void {
  if (stream === undefined) return;
  stream.on('error', () => {});
  if (destroy) stream.destroy();
  else stream.resume();
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** `promise`, or a rejection with TIMED_OUT after `ms`. */
function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(TIMED_OUT), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Writes the audit line and counts the call, once its answer is done. */
function record(request: FastifyRequest, reply: FastifyReply, deps: ProxyDeps): void {
  const call = request.proxyCall;
  if (call === undefined || call.recorded) return;
  call.recorded = true;
  const admission = request.brokerAudit;
  const consumer = call.consumer?.name ?? admission?.consumer;
  const provider = call.provider ?? admission?.provider;
  const code = call.code ?? (call.consumer === undefined ? admission?.code : undefined);
  const status = reply.statusCode;
  deps.metrics.answered(provider ?? '-', consumer ?? '-', status);
  if (code !== undefined) deps.metrics.refusal(code);
  if (deps.audit === undefined) return;
  const bytesOut = typeof call.bytesOut === 'function' ? call.bytesOut() : call.bytesOut;
  deps.audit.line(
    proxyAuditLine({
      reqId: request.id,
      consumer,
      keyId: admission?.keyId,
      ip: request.ip,
      provider,
      method: request.method,
      path: call.path,
      status,
      code,
      upstreamStatus: call.upstreamStatus,
      upstreamMs: call.upstreamMs,
      totalMs: round(reply.elapsedTime),
      bytesIn: typeof call.bytesIn === 'function' ? call.bytesIn() : call.bytesIn,
      bytesOut,
      replayed: call.replayed,
      fingerprint: call.token === undefined ? undefined : fingerprint(call.token),
    }),
  );
}
