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
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Provider } from '../../../providers/provider.js';
import type { Consumer } from '../config.js';
import type { BrokerError } from '../errors.js';
import { createAttempt, type Refuse } from './attempt.js';
import { prepareBody } from './body.js';
import { newCall, record, type ProxyCall } from './call.js';
import { allowedByRules } from './config.js';
import { PROXY_ROUTE, type ProxyDeps } from './deps.js';
import { upstreamFailure } from './forward.js';
import { loadReplyFrom, MISSING_LIBRARY_MESSAGE } from './library.js';
import { pathProblemMessage, resolvePath } from './path.js';

export type { CallPacer } from './pacer.js';
export { PROXY_ROUTE, REPLAY_HEADER, type ProxyDeps } from './deps.js';
export { ProxyMetrics } from './metrics.js';

const PROXY_BASE_ROUTE = '/v1/proxy/:provider';
const PREFIX_LENGTH = '/v1/proxy/'.length;
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

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

/**
 * The handler: admission, the checks, the body; then the attempt (attempt.ts). Synchronous up to the
 * upstream on the warm path (a call without a body, no pacing, the token already got): no promise and
 * no closure per call beyond the one recording it.
 */
function proxyHandler(deps: ProxyDeps) {
  const { limits, send } = deps;
  const refuse: Refuse = (reply, call, error) => {
    call.code = error.code;
    send(reply, error);
  };
  const attempt = createAttempt(deps, refuse);

  return function handle(request: FastifyRequest<{ Params: { provider: string } }>, reply: FastifyReply): undefined {
    const call = newCall(undefined);
    request.proxyCall = call;
    // One record per call, when its answer is done — or cut off (too large, the consumer gone). `on`, not
    // `once`: a response closes once, and `once` would wrap the listener on every call.
    reply.raw.on('close', () => record(request, reply, deps));
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
