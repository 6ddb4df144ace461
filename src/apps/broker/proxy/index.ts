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
import { pipeline, type Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Token } from '../../../base/token.js';
import { withDeadline } from '../../../base/timers.js';
import type { Provider } from '../../../providers/provider.js';
import type { Consumer } from '../config.js';
import { tokenFailure, retryAfterSeconds, type BrokerError } from '../errors.js';
import { ByteCounter, prepareBody } from './body.js';
import { newCall, record, round, type ProxyCall } from './call.js';
import { allowedByRules, type ProxyLimits } from './config.js';
import { contentLength, discard, libraryOptions, upstreamFailure, viaLibrary, viaProvider, type AttemptOutcome, type UpstreamAnswer } from './forward.js';
import { consumerHeaders, toHeaders } from './headers.js';
import { loadReplyFrom, MISSING_LIBRARY_MESSAGE } from './library.js';
import type { ProxyMetrics } from './metrics.js';
import type { CallPacer } from './pacer.js';
import { pathProblemMessage, resolvePath } from './path.js';

export { PASS_THROUGH_PACER, type CallPacer } from './pacer.js';
export { ProxyMetrics } from './metrics.js';

/** The proxy's route pattern (one for the API base itself, one for everything under it). */
export const PROXY_ROUTE = '/v1/proxy/:provider/*';
const PROXY_BASE_ROUTE = '/v1/proxy/:provider';
const PREFIX_LENGTH = '/v1/proxy/'.length;
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
/** Says why an upstream 401 went back to the consumer unreplayed. */
export const REPLAY_HEADER = 'x-tokenbroker-replay';

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
}

/**
 * Registers the proxy routes on the service listener (in a scope of their own: the proxy reads bodies as
 * streams, whatever their type).
 */
export function registerProxyRoutes(app: FastifyInstance, deps: ProxyDeps): void {
  app.decorateRequest('proxyCall', undefined);
  // Loaded from now on (about 0.3 s: undici), while the rest of the broker is built and the store opened.
  const library = loadReplyFrom();
  library.catch(() => {}); // awaited (and any failure thrown) when the scope registers
  void app.register(async (scope) => {
    const replyFrom = await library;
    if (replyFrom === undefined) {
      scope.log.error(MISSING_LIBRARY_MESSAGE);
    } else {
      const { limits } = deps;
      await scope.register(replyFrom, {
        // The library retries a GET answered 503 up to ten times unless no method is retryable; the one
        // retry the proxy allows is its own (forward.ts, `retryDelay`).
        retryMethods: [],
        disableRequestLogging: true,
        // Its undici agent is closed with the broker (by default it is left open, holding kept-alive sockets).
        destroyAgent: true,
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
    const handler = replyFrom === undefined ? unavailable(deps) : proxyHandler(deps);
    scope.route({ method: METHODS, url: PROXY_ROUTE, handler, exposeHeadRoute: false });
    scope.route({ method: METHODS, url: PROXY_BASE_ROUTE, handler, exposeHeadRoute: false });
  });
}

function unavailable(deps: ProxyDeps) {
  return (request: FastifyRequest<{ Params: { provider: string } }>, reply: FastifyReply) => {
    const call = newCall(undefined);
    request.proxyCall = call;
    reply.raw.once('close', () => record(request, reply, deps));
    if (deps.admit(request, reply, PROXY_ROUTE) === undefined) return reply;
    call.code = 'proxy_unavailable';
    return deps.send(reply, { status: 501, code: 'proxy_unavailable', message: MISSING_LIBRARY_MESSAGE });
  };
}

/** Per provider id, the last token promise that resolved and its token: a warm hit needs no await. */
interface Settled {
  readonly promise: Promise<Token>;
  readonly token: Token;
}

/**
 * The handler. Synchronous up to the upstream on the warm path (a call without a body, no pacing, the
 * token already got): no promise and no closure per call beyond the one recording it.
 */
function proxyHandler(deps: ProxyDeps) {
  const { limits, tokens, pacer, send } = deps;
  // No budget, nothing to wait for: no signal and no listener per call.
  const paced = (pacer as { passThrough?: unknown }).passThrough !== true;
  const settled = new Map<string, Settled>();

  const refuse = (reply: FastifyReply, call: ProxyCall, error: BrokerError): void => {
    call.code = error.code;
    send(reply, error);
  };

  const outcome: AttemptOutcome = { answer: onAnswer, failure: onFailure };
  const options = libraryOptions(outcome);

  function onFailure(reply: FastifyReply, error: unknown): void {
    if (!reply.sent) refuse(reply, reply.request.proxyCall!, upstreamFailure(error, limits));
  }

  /** A failure of the call budget or the token manager itself (not a refusal): logged, answered as such. */
  function onInternalFailure(request: FastifyRequest, reply: FastifyReply, error: unknown): void {
    request.log.error({ reqId: request.id, provider: request.proxyCall!.provider, err: { name: (error as Error)?.name } }, 'proxy: the call failed');
    if (!reply.sent) refuse(reply, request.proxyCall!, tokenFailure(error, request.proxyCall!.provider!));
  }

  /** One attempt: a slot of the call budget (when the provider has a rate limit), the token, upstream. */
  function attempt(request: FastifyRequest, reply: FastifyReply): void {
    const call = request.proxyCall!;
    if (!paced || call.api!.rateLimit === undefined) {
      withToken(request, reply);
      return;
    }
    pace(pacer, call.provider!, reply).then(
      (failure) => (failure === undefined ? withToken(request, reply) : refuse(reply, call, failure)),
      (error: unknown) => onInternalFailure(request, reply, error),
    );
  }

  function withToken(request: FastifyRequest, reply: FastifyReply): void {
    const call = request.proxyCall!;
    const id = call.provider!;
    const pending = tokens.getToken(id);
    const known = settled.get(id);
    if (known !== undefined && known.promise === pending) {
      forward(request, reply, known.token);
      return;
    }
    withDeadline(pending, deps.tokenTimeoutMs, () => TIMED_OUT).then(
      (token) => {
        settled.set(id, { promise: pending, token });
        forward(request, reply, token);
      },
      (error: unknown) => refuse(reply, call, error === TIMED_OUT ? TOKEN_TIMEOUT : tokenFailure(error, id)),
    );
  }

  function forward(request: FastifyRequest, reply: FastifyReply, token: Token): void {
    const call = request.proxyCall!;
    call.token = token;
    call.upstreamStart = performance.now();
    // As the authorised client does (core/client.ts): a provider that sends its own requests (its
    // transport, a DPoP proof per request) does so here too.
    if (call.api!.authorizedFetch === undefined) {
      viaLibrary(request, reply, options);
      return;
    }
    void viaProvider(
      call.api!,
      request,
      reply,
      token,
      call.query === '' ? call.url : `${call.url}?${call.query}`,
      call.body,
      limits,
      (answer) => onAnswer(request, reply, answer),
      (error) => onFailure(reply, error),
    );
  }

  function onAnswer(request: FastifyRequest, reply: FastifyReply, answer: UpstreamAnswer): void {
    const call = request.proxyCall!;
    const id = call.provider!;
    call.upstreamMs = round(performance.now() - call.upstreamStart);
    call.upstreamStatus = answer.status;
    deps.metrics.upstream(id, call.upstreamMs / 1000);
    if (answer.status === 401 && !call.replayed) {
      // The token is dropped only if it is still the current one: another call may have replaced it.
      tokens.invalidate(id, call.token!.accessToken);
      if (call.body.kind !== 'streamed') {
        discard(answer.stream);
        call.replayed = true;
        deps.metrics.replay(id, 'replayed');
        attempt(request, reply);
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
    const refusal = passBack(reply, call, answer, limits.maxResponseBytes);
    if (refusal !== undefined) refuse(reply, call, refusal);
  }

  return function handle(request: FastifyRequest<{ Params: { provider: string } }>, reply: FastifyReply): undefined {
    const call = newCall(undefined);
    request.proxyCall = call;
    // One record per call, when its answer is done — or cut off (too large, the consumer gone).
    reply.raw.once('close', () => record(request, reply, deps));
    const consumer = deps.admit(request, reply, PROXY_ROUTE);
    if (consumer === undefined) return undefined;
    call.consumer = consumer;
    const problem = check(request, consumer, call, deps.providers());
    if (problem !== undefined) {
      refuse(reply, call, problem);
      return undefined;
    }
    const payload = request.body as Readable | undefined;
    if (payload === undefined) {
      attempt(request, reply);
      return undefined;
    }
    if (Number(request.headers['content-length'] ?? 0) > limits.maxBodyBytes) {
      tooLarge(reply, call, payload);
      return undefined;
    }
    prepareBody(payload, limits, deps.tokenTimeoutMs).then(
      (body) => {
        if (body === 'too_large') return tooLarge(reply, call, payload);
        call.body = body;
        call.bytesIn = body.bytes;
        if (body.kind !== 'none' && (request.method === 'GET' || request.method === 'HEAD')) {
          return refuse(reply, call, { status: 400, code: 'bad_request', message: `${request.method} calls carry no body` });
        }
        attempt(request, reply);
      },
      // The body failed while it was being read (its deadline passed, the consumer went away).
      (error: unknown) => refuse(reply, call, upstreamFailure(error, limits)),
    );
    return undefined;
  };

  /** A body over `maxBodyBytes`: read and dropped (within the socket's request timeout), so the consumer gets the answer rather than a reset. */
  function tooLarge(reply: FastifyReply, call: ProxyCall, payload: Readable): void {
    payload.resume();
    reply.header('connection', 'close');
    refuse(reply, call, { status: 413, code: 'payload_too_large', message: `Request bodies through the proxy are limited to ${limits.maxBodyBytes} bytes` });
  }
}

/** A slot of the call budget, or the answer to send when none came within its wait bound. */
async function pace(pacer: CallPacer, id: string, reply: FastifyReply): Promise<BrokerError | undefined> {
  const controller = new AbortController();
  const onClose = () => controller.abort();
  try {
    const pending = pacer.acquire(id, { signal: controller.signal });
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

const TIMED_OUT = new Error('timed out');
const TOKEN_TIMEOUT: BrokerError = { status: 503, code: 'timeout', message: 'No token within the request timeout', retryAfterSeconds: 1 };

/**
 * The checks before anything goes upstream — an API base, a safe path, the allow rules — filling in the
 * call's target; the answer refusing it, or undefined. (The body's size is checked as it is read.)
 */
function check(
  request: FastifyRequest<{ Params: { provider: string } }>,
  consumer: Consumer,
  call: ProxyCall,
  providers: ReadonlyMap<string, Provider>,
): BrokerError | undefined {
  const id = request.params.provider;
  call.provider = id;
  const provider = providers.get(id);
  if (provider?.apiBaseUrl === undefined) {
    return { status: 404, code: 'no_api_base', message: `Provider "${id}" has no API base URL to proxy to (apiBaseUrl)` };
  }
  const rawUrl = request.raw.url ?? '';
  const q = rawUrl.indexOf('?');
  const path = resolvePath(provider.apiBaseUrl, q < 0 ? rawUrl : rawUrl.slice(0, q), PREFIX_LENGTH);
  if (typeof path === 'string') return { status: 400, code: 'bad_path', message: pathProblemMessage(path) };
  call.path = path.decodedPath;
  const method = request.method;
  if (!allowedByRules(consumer.allow, id, method, path.decodedPath)) {
    return { status: 403, code: 'proxy_not_allowed', message: `Consumer "${consumer.name}" may not ${method} this path of "${id}"` };
  }
  call.api = provider;
  call.url = path.url;
  // The query goes upstream as it came, and is never logged.
  call.query = q < 0 ? '' : rawUrl.slice(q + 1);
  call.host = path.host;
  return undefined;
}

/** Sends the API's answer on (streamed, counted when its length is unknown), or the refusal of one too large. */
function passBack(reply: FastifyReply, call: ProxyCall, answer: UpstreamAnswer, maxResponseBytes: number): BrokerError | undefined {
  const length = contentLength(answer.headers);
  if (length !== undefined && length > maxResponseBytes) {
    discard(answer.stream, true);
    return { status: 502, code: 'upstream_response_too_large', message: `The API's answer is over proxy.maxResponseBytes (${maxResponseBytes} bytes)` };
  }
  reply.code(answer.status).headers(consumerHeaders(answer.headers, reply.request.id));
  if (answer.stream === undefined) {
    reply.send();
  } else if (length !== undefined) {
    call.bytesOut = length;
    reply.send(answer.stream);
  } else {
    const counter = new ByteCounter(maxResponseBytes);
    call.bytesOut = () => counter.bytes;
    pipeline(answer.stream, counter, (error) => {
      if (error !== undefined && error !== null) call.code = error.name === 'ResponseTooLargeError' ? 'upstream_response_too_large' : 'upstream_unavailable';
    });
    reply.send(counter);
  }
  return undefined;
}
