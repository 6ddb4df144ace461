/**
 * The credential broker: an authenticated HTTP API in front of one token manager, on Fastify.
 *
 *   GET /v1/tokens/:provider ─ API key ─ known provider ─ allowed for this consumer ─ tokens.getToken
 *   GET /healthz · /readyz · /metrics
 *
 * `createBroker(config)` builds everything without listening, so tests run it in-process; the
 * `tokenbroker serve` command adds the config file, signals and exit codes.
 */
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';
import { createTokenManager, type TokenManager } from '../manager.js';
import { boundedRedisOptions, loadIoredis } from '../stores/redis/connection.js';
import { redisStore } from '../stores/redis/index.js';
import type { TokenStore } from '../stores/types.js';
import type { Token } from '../token.js';
import { authenticate, presentedKey } from './auth.js';
import { resolveBrokerConfig, type LoadContext, type ResolvedStore } from './config.js';
import { errorBody, tokenFailure, UNAUTHENTICATED, type BrokerError } from './errors.js';
import { BrokerMetrics } from './metrics.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated consumer's name, for the access log. */
    brokerConsumer: string | undefined;
    /** The (configured) provider id asked for, for the access log. */
    brokerProvider: string | undefined;
    /** The route pattern, set by the handler (cheaper than `routeOptions`, which builds an object per call). */
    brokerRoute: string | undefined;
  }
}

/** Anything with `write(text)`: the broker's JSON log lines go there (default: stdout). */
export interface LogDestination {
  write(text: string): unknown;
}

/** Options of {@link createBroker} beyond the config itself. */
export interface BrokerOptions extends LoadContext {
  /** Where the JSON log goes (default: stdout, through pino's own writer). */
  readonly logDestination?: LogDestination;
  /** Overrides the config's `listen` (tests: `{ port: 0 }`). */
  readonly listen?: { readonly host?: string; readonly port?: number };
}

/** A broker, built but not listening yet. */
export interface Broker {
  /** The Fastify instance (for `inject` in tests). */
  readonly app: FastifyInstance;
  /** The token manager behind the API. */
  readonly tokens: TokenManager;
  /** Starts listening; resolves to the base URL, e.g. `http://127.0.0.1:8080`. */
  listen(): Promise<string>;
  /**
   * Graceful stop: no new connections, requests under way finish, then the token manager and the
   * store close. Safe to call more than once.
   */
  close(): Promise<void>;
}

const PROVIDER_ROUTE = '/v1/tokens/:provider';
const READY_TIMEOUT_MS = 1_000;

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

/**
 * Builds a broker from a config object (the parsed config file).
 * @throws {@link ConfigError} listing every problem of the config, before anything starts.
 */
export function createBroker(config: unknown, options: BrokerOptions = {}): Broker {
  const resolved = resolveBrokerConfig(config, options);
  const listenAt = { ...resolved.listen, ...options.listen };
  const { limits } = resolved;

  const app = Fastify({
    logger: {
      level: resolved.logLevel,
      // Without a destination: pino's own stdout writer (sonic-boom), much cheaper than process.stdout.write.
      ...(options.logDestination === undefined ? {} : { stream: options.logDestination }),
      // Nothing here logs headers; this is for whoever adds a hook or a serializer that does.
      redact: {
        paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'headers.authorization', 'headers["x-api-key"]'],
        censor: '[redacted]',
      },
    },
    // The access log below replaces Fastify's two lines per request (which quote the raw URL).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: limits.bodyLimitBytes,
    routerOptions: { maxParamLength: 64 },
    // Socket level: the whole request must arrive within this (slow-loris protection). The wait for a
    // token is bounded separately, on the slow path only (see `withDeadline`).
    requestTimeout: limits.requestTimeoutMs,
    http: { maxHeaderSize: limits.maxHeaderBytes },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Router errors (bad URL encoding, an over-long id): Fastify's own answer quotes the URL.
    frameworkErrors: (error, _request, reply) => {
      if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
        return send(reply, { status: 414, code: 'uri_too_long', message: 'Provider ids are at most 64 characters' });
      }
      return send(reply, { status: 400, code: 'bad_request', message: 'The request URL is malformed' });
    },
  });
  app.decorateRequest('brokerConsumer', undefined);
  app.decorateRequest('brokerProvider', undefined);
  app.decorateRequest('brokerRoute', undefined);

  const { store, redis } = buildStore(resolved.store, app);
  const tokens = createTokenManager({
    ...resolved.tokens,
    providers: Object.fromEntries(resolved.providers),
    store,
    logger: app.log.child({ component: 'tokens' }),
  });
  const metrics = new BrokerMetrics(tokens);
  /** Per provider id, the last token promise that resolved: the manager returns it again on warm hits. */
  const settled = new Map<string, Promise<Token>>();
  /** Per provider id, the last token answered and its `expires_at` text (computed once per token). */
  const expiresAtText = new Map<string, { token: Token; text: string }>();
  let closing = false;

  // --- Access log and request metrics: one line per request, route pattern only (never the URL, which could carry anything).
  // Callback-style (not async): no promise per request on the hot path.
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.brokerRoute ?? request.routeOptions.url ?? 'unmatched';
    metrics.request(route, reply.statusCode);
    request.log.info(
      {
        method: request.method,
        route,
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 1000) / 1000,
        consumer: request.brokerConsumer,
        provider: request.brokerProvider,
      },
      'request',
    );
    done();
  });

  app.setNotFoundHandler((_request, reply) => send(reply, { status: 404, code: 'not_found', message: 'No such route' }));
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status === 413) return send(reply, { status, code: 'payload_too_large', message: `Request bodies are limited to ${limits.bodyLimitBytes} bytes` });
    if (status >= 400 && status < 500) return send(reply, { status, code: 'bad_request', message: 'The request is malformed' });
    request.log.error({ err: { name: error.name, code: error.code } }, 'request failed');
    return send(reply, { status: 500, code: 'internal_error', message: 'The broker failed unexpectedly; see its log' });
  });

  // --- The API
  app.get<{ Params: { provider: string } }>(
    PROVIDER_ROUTE,
    { schema: { response: { 200: tokenResponseSchema } } },
    async (request, reply) => {
      request.brokerRoute = PROVIDER_ROUTE;
      const key = presentedKey(request.headers.authorization, request.headers['x-api-key']);
      const consumer = key === undefined ? undefined : authenticate(resolved.consumers, key);
      if (consumer === undefined) {
        reply.header('www-authenticate', 'Bearer realm="tokenbroker"');
        return send(reply, UNAUTHENTICATED);
      }
      request.brokerConsumer = consumer.name;
      const id = request.params.provider;
      if (!resolved.providers.has(id)) {
        return send(reply, { status: 404, code: 'unknown_provider', message: 'No provider is configured under that id' });
      }
      request.brokerProvider = id;
      if (!consumer.providers.has(id)) {
        return send(reply, { status: 403, code: 'provider_not_allowed', message: `Consumer "${consumer.name}" may not get tokens for "${id}"` });
      }
      let token: Token;
      try {
        const pending = tokens.getToken(id);
        // A warm hit hands back the same settled promise every time: awaited as is, with no timer.
        // Anything else (a fetch under way) is awaited within the request timeout.
        token = await (settled.get(id) === pending ? pending : withDeadline(pending, limits.requestTimeoutMs));
        settled.set(id, pending);
      } catch (error) {
        if (error === TIMED_OUT) {
          return send(reply, { status: 503, code: 'timeout', message: 'No token within the request timeout', retryAfterSeconds: 1 });
        }
        return send(reply, tokenFailure(error, id));
      }
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      // A request that was under way when the close began: its connection closes after this answer.
      if (closing) reply.header('connection', 'close');
      return tokenBody(token, id, expiresAtText);
    },
  );
  app.route({
    method: ['POST', 'PUT', 'PATCH', 'DELETE'],
    url: PROVIDER_ROUTE,
    handler: (_request, reply) => {
      reply.header('allow', 'GET, HEAD');
      return send(reply, { status: 405, code: 'method_not_allowed', message: 'Use GET' });
    },
  });

  // --- Operations
  app.get('/healthz', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return { status: 'ok' };
  });
  app.get('/readyz', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    const storeReady = redis === undefined ? true : await ping(redis);
    const ready = storeReady && !closing;
    reply.code(ready ? 200 : 503);
    return { status: ready ? 'ready' : 'not_ready', checks: { config: 'loaded', store: storeReady ? 'reachable' : 'unreachable', closing } };
  });
  app.get('/metrics', async (_request, reply) => {
    reply.header('cache-control', 'no-store').type(metrics.registry.contentType);
    return metrics.text();
  });

  let closed: Promise<void> | undefined;
  return {
    app,
    tokens,
    async listen() {
      const url = await app.listen({ host: listenAt.host, port: listenAt.port });
      app.log.info(
        { url, providers: [...resolved.providers.keys()], consumers: resolved.consumers.length, store: resolved.store.type },
        'tokenbroker broker listening',
      );
      return url;
    },
    close() {
      closed ??= (async () => {
        closing = true;
        app.log.info('closing: no new connections, finishing requests under way');
        try {
          await app.close();
        } finally {
          metrics.close();
          await tokens.close();
          if (redis !== undefined) await redis.quit().catch(() => redis.disconnect());
          app.log.info('closed');
        }
      })();
      return closed;
    },
  };
}

const TIMED_OUT = new Error('timed out');

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

function send(reply: FastifyReply, error: BrokerError): FastifyReply {
  reply.code(error.status).header('cache-control', 'no-store');
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  return reply.send(errorBody(error));
}

/**
 * The store: memory, or Redis through an ioredis client the broker owns (so `/readyz` can PING it).
 */
function buildStore(config: ResolvedStore, app: FastifyInstance): { store: TokenStore | undefined; redis: Redis | undefined } {
  if (config.type === 'memory') return { store: undefined, redis: undefined };
  const { redis, store } = redisStoreFor(config, app);
  return { store, redis };
}

function redisStoreFor(config: Extract<ResolvedStore, { type: 'redis' }>, app: FastifyInstance): { redis: Redis; store: TokenStore } {
  // Bounded like the store's own connections: fail fast, never replay stale lock commands.
  // ioredis is an optional peer: loaded only for a Redis store, with the same ConfigError when absent.
  const redis = new (loadIoredis().Redis)(config.url, boundedRedisOptions(READY_TIMEOUT_MS));
  let warned = false;
  redis.on('error', (error: Error) => {
    // ioredis errors can quote the URL; only the name and system code are logged.
    if (!warned) app.log.warn({ err: { name: error.name, code: (error as { code?: unknown }).code } }, 'redis connection error');
    warned = true;
  });
  redis.on('ready', () => {
    warned = false;
  });
  const store = redisStore({
    client: redis,
    ...(config.keyPrefix === undefined ? {} : { keyPrefix: config.keyPrefix }),
    ...(config.encryptionKeys === undefined ? {} : { encryptionKeys: config.encryptionKeys }),
    logger: app.log.child({ component: 'redis-store' }),
  });
  return { redis, store };
}

async function ping(redis: Redis): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  let onReady: (() => void) | undefined;
  try {
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), READY_TIMEOUT_MS);
    });
    // Commands are not queued while (re)connecting: wait for the connection, within the same deadline.
    if (redis.status !== 'ready') {
      if (redis.status === 'end') return false;
      await Promise.race([new Promise<void>((resolve) => redis.once('ready', (onReady = resolve))), deadline]);
    }
    return (await Promise.race([redis.ping(), deadline])) === 'PONG';
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    if (onReady !== undefined) redis.off('ready', onReady);
  }
}
