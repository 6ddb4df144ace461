/**
 * The service listener: the token API and nothing else.
 *
 *   GET  /v1/tokens/:provider             ─ API key ─ known provider ─ allowed ─ tokens.getToken
 *   POST /v1/tokens/:provider/invalidate  ─ same, then the consumer's allowance ─ tokens.invalidate ─ getToken
 *
 * Every answer carries `x-request-id`; every token answer gets one audit line (written when the answer
 * is sent, with its latency); every answer is counted for `/metrics`.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { TokenManager } from '../../core/manager.js';
import type { Token } from '../../base/token.js';
import { fingerprint, type AuditLog } from './audit.js';
import { authenticate, authenticateCertificate, presentedKey, type Authentication } from './auth.js';
import type { BrokerLimits, Consumer, ResolvedTls } from './config.js';
import { errorBody, INVALID_KEY, tokenFailure, UNAUTHENTICATED, type BrokerError } from './errors.js';
import type { BrokerMetrics } from './metrics.js';
import { WindowCounter } from './throttle.js';
import type { Provider } from '../../providers/provider.js';
import { PROXY_ROUTE, ProxyMetrics, registerProxyRoutes, type CallPacer } from './proxy/index.js';
import { anonymousOf, rawTokenRefusal } from './proxy/consumers.js';
import type { ProxyLimits } from './proxy/config.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** What the audit line says about a token request; undefined for any other route. */
    brokerAudit: AuditFields | undefined;
    /** The route pattern, set by the handler (cheaper than `routeOptions`, which builds an object per call). */
    brokerRoute: string | undefined;
  }
}

interface AuditFields {
  consumer: string | undefined;
  keyId: string | undefined;
  provider: string | undefined;
  outcome: 'issued' | 'invalidated' | 'refused';
  code: string | undefined;
  token: Token | undefined;
}

/** What can change on SIGHUP: who may ask for what. */
export interface LiveConfig {
  readonly consumers: readonly Consumer[];
  readonly providerIds: ReadonlySet<string>;
  /** The providers by id (the proxy forwards to their API bases). */
  readonly providers: ReadonlyMap<string, Provider>;
  /** Providers served through the proxy only (DPoP-bound tokens). */
  readonly proxyOnlyProviders: ReadonlySet<string>;
}

/** What the service listener needs. */
export interface ServiceDeps {
  readonly limits: BrokerLimits;
  readonly logger: FastifyBaseLogger;
  readonly tls: ResolvedTls | undefined;
  readonly live: () => LiveConfig;
  readonly tokens: TokenManager;
  readonly metrics: BrokerMetrics;
  readonly audit: AuditLog | undefined;
  readonly closing: () => boolean;
  /** The proxy's limits and call budget (docs/proxy.md). */
  readonly proxy: { readonly limits: ProxyLimits; readonly pacer: CallPacer };
}

const TOKEN_ROUTE = '/v1/tokens/:provider';
const INVALIDATE_ROUTE = '/v1/tokens/:provider/invalidate';
/** An incoming `x-request-id` is kept when it looks like one (and cannot inject anything into a log). */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

const tokenResponseSchema = {
  type: 'object',
  properties: {
    access_token: { type: 'string' },
    token_type: { type: 'string' },
    expires_at: { type: 'string' },
    expires_in: { type: 'integer' },
    scope: { type: 'string' },
  },
  required: ['access_token', 'token_type', 'expires_at', 'expires_in'],
} as const;

const invalidateBodySchema = {
  type: 'object',
  properties: { accessToken: { type: 'string', minLength: 1, maxLength: 16_384 } },
  required: ['accessToken'],
  additionalProperties: false,
} as const;

/** Builds the service listener (not listening yet). */
export function buildServiceApp(deps: ServiceDeps): FastifyInstance {
  const { limits, tokens, metrics, audit } = deps;
  const app = Fastify({
    loggerInstance: deps.logger,
    // No child logger per request (Fastify's default binds reqId to one): lines that need it carry it.
    childLoggerFactory: (logger) => logger,
    // The access log below replaces Fastify's two lines per request (which quote the raw URL).
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    genReqId: (request) => {
      const incoming = request.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    bodyLimit: limits.bodyLimitBytes,
    routerOptions: { maxParamLength: 64 },
    // Socket level: the whole request must arrive within this (slow-loris protection). The wait for a
    // token is bounded separately, on the slow path only (see `withDeadline`).
    requestTimeout: limits.requestTimeoutMs,
    // Node checks request timeouts every `connectionsCheckingInterval` (30 s by default): often enough here.
    http: { maxHeaderSize: limits.maxHeaderBytes, connectionsCheckingInterval: Math.min(1_000, limits.requestTimeoutMs) },
    // Answers Node gives before a request exists (431, 408, an unparsable request): our JSON, counted.
    clientErrorHandler: (error: NodeJS.ErrnoException, socket: Socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const answer = CLIENT_ERRORS[error.code ?? ''] ?? CLIENT_ERRORS.default!;
      metrics.request('unparsed', answer.status);
      if (socket.writable) {
        const body = JSON.stringify(errorBody(answer));
        const reason = answer.status === 431 ? 'Request Header Fields Too Large' : answer.status === 408 ? 'Request Timeout' : 'Bad Request';
        socket.write(
          `HTTP/1.1 ${answer.status} ${reason}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\n` +
            `Cache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
        );
      }
      socket.destroy();
    },
    // With a CA, client certificates are asked for and verified, but not required: API-key consumers
    // connect without one. A certificate counts only when the CA signed it (socket.authorized).
    ...(deps.tls === undefined
      ? {}
      : {
          https: {
            cert: deps.tls.cert,
            key: deps.tls.key,
            ...(deps.tls.ca === undefined ? {} : { ca: deps.tls.ca, requestCert: true, rejectUnauthorized: false }),
          },
        }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Router errors (bad URL encoding, an over-long id): Fastify's own answer quotes the URL.
    frameworkErrors: (error, request, reply) => {
      const answer: BrokerError =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? { status: 414, code: 'uri_too_long', message: 'Provider ids are at most 64 characters' }
          : { status: 400, code: 'bad_request', message: 'The request URL is malformed' };
      // Hooks do not run for these answers: counted and logged here.
      metrics.request('unmatched', answer.status);
      request.log.info({ reqId: request.id, method: request.method, route: 'unmatched', status: answer.status, code: answer.code }, 'request');
      return send(reply, answer);
    },
  }) as unknown as FastifyInstance;
  app.decorateRequest('brokerAudit', undefined);
  app.decorateRequest('brokerRoute', undefined);

  // A callback-style hook (not async): no promise per request on the hot path. `x-request-id` is set
  // where each answer is made (`send`, the token answer) rather than in one more hook per request.
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.brokerRoute ?? request.routeOptions.url ?? 'unmatched';
    metrics.request(route, reply.statusCode);
    // A proxied call has its own audit line and metrics (proxy/index.ts).
    if (route === PROXY_ROUTE) return done();
    const fields = request.brokerAudit;
    if (fields !== undefined && fields.consumer !== undefined && fields.provider !== undefined) {
      metrics.consumerRequest(
        fields.consumer,
        fields.provider,
        fields.outcome === 'refused' ? (fields.code ?? 'refused') : fields.outcome,
        reply.elapsedTime / 1000,
      );
    }
    if (fields !== undefined && audit !== undefined) {
      // A token request is recorded once, by the audit line (it has every field of the access line).
      audit.write({
        reqId: request.id,
        consumer: fields.consumer,
        keyId: fields.keyId,
        ip: request.ip,
        provider: fields.provider,
        outcome: fields.outcome,
        code: fields.code,
        status: reply.statusCode,
        fingerprint: fields.token === undefined ? undefined : fingerprint(fields.token),
        latencyMs: Math.round(reply.elapsedTime * 1000) / 1000,
      });
    } else {
      request.log.info(
        {
          reqId: request.id,
          method: request.method,
          route,
          status: reply.statusCode,
          durationMs: Math.round(reply.elapsedTime * 1000) / 1000,
          consumer: fields?.consumer,
          provider: fields?.provider,
        },
        'request',
      );
    }
    done();
  });

  app.setNotFoundHandler((_request, reply) => send(reply, { status: 404, code: 'not_found', message: 'No such route' }));
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode ?? 500;
    if (request.brokerAudit !== undefined) refuse(request, 'bad_request');
    if (status === 413) return send(reply, { status, code: 'payload_too_large', message: `Request bodies are limited to ${limits.bodyLimitBytes} bytes` });
    if (status >= 400 && status < 500) {
      const message = error.validation === undefined ? 'The request is malformed' : 'The body must be JSON: { "accessToken": "<the token the API rejected>" }';
      return send(reply, { status, code: 'bad_request', message });
    }
    request.log.error({ reqId: request.id, err: { name: error.name, code: error.code } }, 'request failed');
    return send(reply, { status: 500, code: 'internal_error', message: 'The broker failed unexpectedly; see its log' });
  });

  const clientCertificates = deps.tls?.ca !== undefined;
  const failedAuth = new WindowCounter(limits.failedAuthPerIp, limits.failedAuthWindowMs);
  const invalidations = new WindowCounter(limits.invalidationsPerConsumer, limits.invalidationWindowMs);
  /** Per provider id, the last token promise that resolved: the manager returns it again on warm hits. */
  const settled = new Map<string, Promise<Token>>();
  /** Per provider id, the last token answered and its `expires_at` text (computed once per token). */
  const expiresAtText = new Map<string, { token: Token; text: string }>();

  /**
   * Keys that authenticated, and whose: a hit skips the SHA-256 and the comparisons. Only successes are
   * kept, so a guess always takes the full constant-time path; a hit is faster, but it only happens for
   * a right key, which the answer (200 rather than 401) reveals anyway. Emptied when the consumers
   * change (reload) and when full; the keys it holds are in this process's memory already (headers).
   */
  let keyCache = { consumers: undefined as readonly Consumer[] | undefined, byKey: new Map<string, Authentication>() };
  const authenticateCached = (consumers: readonly Consumer[], key: string): Authentication => {
    if (keyCache.consumers !== consumers) keyCache = { consumers, byKey: new Map() };
    const cached = keyCache.byKey.get(key);
    if (cached !== undefined) return cached;
    const found = authenticate(consumers, key);
    if (found.consumer !== undefined) {
      if (keyCache.byKey.size >= 1024) keyCache.byKey.clear();
      keyCache.byKey.set(key, found);
    }
    return found;
  };

  /** Authentication, provider, allow-list: the consumer, or undefined when an answer was sent. */
  function admit(request: FastifyRequest<{ Params: { provider: string } }>, reply: FastifyReply, route: string): Consumer | undefined {
    request.brokerRoute = route;
    const fields: AuditFields = { consumer: undefined, keyId: undefined, provider: undefined, outcome: 'refused', code: undefined, token: undefined };
    request.brokerAudit = fields;
    const blockedMs = failedAuth.retryAfterMs(request.ip);
    if (blockedMs > 0) {
      fields.code = 'too_many_failed_authentications';
      send(reply, {
        status: 429,
        code: 'too_many_failed_authentications',
        message: 'Too many failed authentications from this address',
        retryAfterSeconds: Math.ceil(blockedMs / 1000),
      });
      return undefined;
    }
    const { consumers, providerIds, proxyOnlyProviders } = deps.live();
    const key = presentedKey(request.headers.authorization, request.headers['x-api-key']);
    const byCertificate = clientCertificates ? authenticateCertificate(consumers, request.raw.socket as TLSSocket) : undefined;
    const found =
      byCertificate ??
      (key === undefined ? anonymousOf(consumers, request.headers.authorization, request.headers['x-api-key']) : authenticateCached(consumers, key));
    if (found?.consumer === undefined) {
      failedAuth.hit(request.ip);
      fields.keyId = found?.keyId;
      fields.code = key === undefined ? 'unauthenticated' : 'invalid_key';
      reply.header('www-authenticate', 'Bearer realm="tokenbroker"');
      send(reply, key === undefined ? UNAUTHENTICATED : INVALID_KEY);
      return undefined;
    }
    const { consumer, keyId } = found;
    fields.consumer = consumer.name;
    fields.keyId = keyId;
    const id = request.params.provider;
    if (!providerIds.has(id)) {
      fields.code = 'unknown_provider';
      send(reply, { status: 404, code: 'unknown_provider', message: 'No provider is configured under that id' });
      return undefined;
    }
    fields.provider = id;
    if (!consumer.providers.has(id)) {
      fields.code = 'provider_not_allowed';
      send(reply, { status: 403, code: 'provider_not_allowed', message: `Consumer "${consumer.name}" may not get tokens for "${id}"` });
      return undefined;
    }
    const noRawToken = route === PROXY_ROUTE ? undefined : rawTokenRefusal(consumer, id, proxyOnlyProviders);
    if (noRawToken !== undefined) {
      fields.code = noRawToken.code;
      send(reply, noRawToken);
      return undefined;
    }
    if (consumer.requestsPerMinute !== undefined) {
      const counter = rateFor(consumer);
      const limitedMs = counter.retryAfterMs(consumer.name);
      if (limitedMs > 0) {
        fields.code = 'consumer_rate_limited';
        send(reply, {
          status: 429,
          code: 'consumer_rate_limited',
          message: `Consumer "${consumer.name}" is over its ${consumer.requestsPerMinute} requests per minute`,
          retryAfterSeconds: Math.ceil(limitedMs / 1000),
        });
        return undefined;
      }
      counter.hit(consumer.name);
    }
    return consumer;
  }

  /** Per consumer with `requestsPerMinute`, its window (made anew when a reload changes the consumer). */
  const rates = new WeakMap<Consumer, WindowCounter>();
  const rateFor = (consumer: Consumer): WindowCounter => {
    let counter = rates.get(consumer);
    if (counter === undefined) rates.set(consumer, (counter = new WindowCounter(consumer.requestsPerMinute!, 60_000, 1)));
    return counter;
  };

  /** Gets the token of `id` within the request timeout and sends it (or the failure). */
  async function answer(request: FastifyRequest, reply: FastifyReply, id: string): Promise<unknown> {
    const fields = request.brokerAudit!;
    let token: Token;
    try {
      const pending = tokens.getToken(id);
      // A warm hit hands back the same settled promise every time: awaited as is, with no timer.
      // Anything else (a fetch under way) is awaited within the request timeout.
      token = await (settled.get(id) === pending ? pending : withDeadline(pending, limits.requestTimeoutMs));
      settled.set(id, pending);
    } catch (error) {
      // No known retry time for a fetch still under way: 1 s is a guess, and says so by being small.
      const failure: BrokerError =
        error === TIMED_OUT ? { status: 503, code: 'timeout', message: 'No token within the request timeout', retryAfterSeconds: 1 } : tokenFailure(error, id);
      fields.outcome = 'refused';
      fields.code = failure.code;
      return send(reply, failure);
    }
    fields.token = token;
    reply.header('x-request-id', request.id).header('cache-control', 'no-store').header('pragma', 'no-cache');
    // A request that was under way when the close began: its connection closes after this answer.
    if (deps.closing()) reply.header('connection', 'close');
    return tokenBody(token, id, expiresAtText);
  }

  app.get<{ Params: { provider: string } }>(TOKEN_ROUTE, { schema: { response: { 200: tokenResponseSchema } } }, async (request, reply) => {
    if (admit(request, reply, TOKEN_ROUTE) === undefined) return reply;
    request.brokerAudit!.outcome = 'issued';
    return answer(request, reply, request.params.provider);
  });

  app.post<{ Params: { provider: string }; Body: { accessToken: string } }>(
    INVALIDATE_ROUTE,
    { schema: { body: invalidateBodySchema, response: { 200: tokenResponseSchema } } },
    async (request, reply) => {
      const consumer = admit(request, reply, INVALIDATE_ROUTE);
      if (consumer === undefined) return reply;
      const id = request.params.provider;
      const fields = request.brokerAudit!;
      const allowanceKey = `${consumer.name}\u0000${id}`;
      const limitedMs = invalidations.retryAfterMs(allowanceKey);
      if (limitedMs > 0) {
        metrics.invalidation(consumer.name, id, 'limited');
        fields.code = 'invalidation_limit';
        return send(reply, {
          status: 429,
          code: 'invalidation_limit',
          message: `Consumer "${consumer.name}" has reported too many rejected tokens for "${id}"; nothing was invalidated`,
          retryAfterSeconds: Math.ceil(limitedMs / 1000),
        });
      }
      // Compare-and-delete: only if the reported token is still the current one. A report of a token
      // already replaced costs nothing and gets the current token.
      const dropped = tokens.invalidate(id, request.body.accessToken);
      if (dropped) invalidations.hit(allowanceKey);
      metrics.invalidation(consumer.name, id, dropped ? 'dropped' : 'already_replaced');
      fields.outcome = 'invalidated';
      fields.code = dropped ? undefined : 'already_replaced';
      return answer(request, reply, id);
    },
  );

  const notAllowed = (allow: string) => (request: FastifyRequest, reply: FastifyReply) => {
    request.brokerRoute = request.routeOptions.url;
    reply.header('allow', allow);
    return send(reply, { status: 405, code: 'method_not_allowed', message: `Use ${allow.replace(', ', ' or ')}` });
  };
  app.route({ method: ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'], url: TOKEN_ROUTE, handler: notAllowed('GET, HEAD') });
  app.route({ method: ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'], url: INVALIDATE_ROUTE, handler: notAllowed('POST') });
  // The proxy (docs/proxy.md): its routes, with this listener's admission and answers.
  const proxyMetrics = new ProxyMetrics(metrics.registry);
  registerProxyRoutes(app, {
    ...deps.proxy,
    tokens,
    tokenTimeoutMs: limits.requestTimeoutMs,
    providers: () => deps.live().providers,
    admit,
    send,
    metrics: proxyMetrics,
    audit,
  });
  return app;
}

function refuse(request: FastifyRequest, code: string): void {
  const fields = request.brokerAudit!;
  fields.outcome = 'refused';
  fields.code = code;
}

const TIMED_OUT = new Error('timed out');

/** The answers to requests Node refuses before they exist, by its error code. */
const CLIENT_ERRORS: Readonly<Record<string, BrokerError>> = {
  HPE_HEADER_OVERFLOW: { status: 431, code: 'headers_too_large', message: 'The request line and headers are over the limit (limits.maxHeaderBytes)' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'request_timeout', message: 'The request did not arrive within limits.requestTimeoutMs' },
  default: { status: 400, code: 'bad_request', message: 'The request is not valid HTTP' },
};

/** `promise`, or a rejection with TIMED_OUT after `ms`. */
function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(TIMED_OUT), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** The success body. `expires_at` is the token's real expiry; the broker fetches a new one before it. */
function tokenBody(token: Token, id: string, expiresAtText: Map<string, { token: Token; text: string }>): Record<string, unknown> {
  let cached = expiresAtText.get(id);
  if (cached?.token !== token) expiresAtText.set(id, (cached = { token, text: new Date(token.expiresAt).toISOString() }));
  const body: Record<string, unknown> = {
    access_token: token.accessToken,
    token_type: token.tokenType,
    expires_at: cached.text,
    expires_in: Math.max(0, Math.floor((token.expiresAt - Date.now()) / 1000)),
  };
  if (token.scope !== undefined) body.scope = token.scope;
  return body;
}

/** Sends an error answer. */
export function send(reply: FastifyReply, error: BrokerError): FastifyReply {
  reply.code(error.status).header('x-request-id', reply.request.id).header('cache-control', 'no-store');
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  return reply.send(errorBody(error));
}
