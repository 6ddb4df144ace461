/**
 * The credential broker: an authenticated HTTP API in front of one token manager, on Fastify, with
 * its operations routes on a listener of their own.
 *
 *   service listener  GET /v1/tokens/:provider · POST /v1/tokens/:provider/invalidate   (service.ts)
 *   ops listener      GET /healthz · /readyz · /metrics                                   (loopback by default)
 *
 * `createBroker(config)` builds everything without listening, so tests run it in-process; the
 * `tokenbroker serve` command adds the config file, signals (SIGHUP reloads) and exit codes.
 */
import type { Server as TlsServer } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import { ConfigError } from '../../base/errors.js';
import { createTokenManager, type TokenManager } from '../../core/manager.js';
import type { AuditDestination } from './audit.js';
import { resolveBrokerConfig, type ResolvedBrokerConfig } from './config.js';
import { brokerLogging, type LogDestination } from './logging.js';
import { BrokerMetrics } from './metrics.js';
import { trackConnections } from './connections.js';
import { buildServiceApp, type LiveConfig } from './service.js';
import { buildBrokerStore } from './store.js';
import { BrokerFileWatch, filesNamedBy } from './file-watch.js';

/** Options of {@link createBroker} beyond the config itself. */
export interface BrokerOptions {
  /** Environment variables the config's `clientSecretEnv`, `urlEnv`… name (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Directory the config's relative paths (secret files, `stateDir`, `audit.file`, TLS files) start from (default: the current directory). */
  readonly baseDir?: string;
  /** Prefix of every problem's path in a ConfigError, e.g. the config file's name. */
  readonly source?: string;
  /** Where the JSON log goes (default: stdout, through pino's own asynchronous writer). */
  readonly logDestination?: LogDestination;
  /** Where the audit lines go; default: the config's `audit.file`, else `logDestination`, else stdout. */
  readonly auditDestination?: AuditDestination;
  /** Overrides the config's `listen` (tests: `{ port: 0 }`). */
  readonly listen?: {
    /** The interface, e.g. `127.0.0.1`. */
    readonly host?: string;
    /** The port; 0 for a free one. */
    readonly port?: number;
    /** A unix socket path instead of host and port (the sidecar shape, docs/proxy.md). */
    readonly path?: string;
  };
  /** Overrides the config's `ops` listener address (tests: `{ port: 0 }`). */
  readonly ops?: {
    /** The interface, e.g. `127.0.0.1`. */
    readonly host?: string;
    /** The port; 0 for a free one. */
    readonly port?: number;
  };
}

/** A broker, built but not listening yet. */
export interface Broker {
  /** The service listener's Fastify instance (for `inject` in tests): the token API only. */
  readonly app: FastifyInstance;
  /** The ops listener's Fastify instance: `/healthz`, `/readyz`, `/metrics`. */
  readonly ops: FastifyInstance;
  /** The token manager behind the API. */
  readonly tokens: TokenManager;
  /** Starts both listeners; resolves to the service's base URL, e.g. `http://127.0.0.1:8080`. */
  listen(): Promise<string>;
  /** The ops listener's base URL, once listening. */
  readonly opsUrl: string | undefined;
  /**
   * Applies a new config without a restart: consumers, key hashes, allow-lists and providers. Cached
   * tokens of unchanged credentials and requests under way are kept. Other sections (listeners, store,
   * limits, tokens, logging) need a restart; a change to them is logged and ignored. `config` is the
   * config object, or a function that reads it (so a file that cannot be read is handled the same way).
   * @throws `ConfigError` (from `tokenbroker`) for a bad config, after logging one error line; the running config is kept.
   */
  reload(config: unknown, options?: Pick<BrokerOptions, 'env' | 'baseDir' | 'source'>): void;
  /**
   * Graceful stop: no new connections, requests under way finish, then the token manager and the
   * store close. Safe to call more than once.
   */
  close(): Promise<void>;
}

const READY_TIMEOUT_MS = 1_000;

/**
 * Builds a broker from a config object (the parsed config file).
 * @throws `ConfigError` (from `tokenbroker`) listing every problem of the config, before anything starts.
 */
export function createBroker(config: unknown, options: BrokerOptions = {}): Broker {
  let resolved = resolveBrokerConfig(config, options);
  const listenAt = { ...resolved.listen, ...options.listen };
  const opsAt = { host: resolved.ops.host, port: resolved.ops.port, ...options.ops };
  const { logger, audit, auditDestination, ...logging } = brokerLogging(resolved, options);

  const built = buildBrokerStore(resolved.store, logger.child({ component: 'store' }), options.source);
  logging.startTimer();
  const tokens = createTokenManager({
    ...resolved.tokens,
    providers: Object.fromEntries(resolved.providers),
    ...(built.store === undefined ? {} : { store: built.store }),
    logger: logger.child({ component: 'tokens' }),
  });
  const metrics = new BrokerMetrics(tokens, () => built.reachable(READY_TIMEOUT_MS));
  let live: LiveConfig = liveOf(resolved);
  let closing = false;

  const app = buildServiceApp({
    limits: resolved.limits,
    logger,
    tls: resolved.tls,
    live: () => live,
    tokens,
    metrics,
    audit,
    closing: () => closing,
    // The call budget: the manager's acquire/reportRateLimited pace proxied calls like tokens.client().
    proxy: { limits: resolved.proxy, pacer: tokens },
  });
  const ops = buildOpsApp(metrics, () => closing, built, resolved.ops.storeOutage);
  const connections = trackConnections(app.server);

  // Secret files and the TLS certificate apply without SIGHUP (file-watch.ts); started with the listeners.
  const fileWatch = new BrokerFileWatch({
    log: logger.child({ component: 'file-watch' }),
    audit: audit === undefined ? undefined : auditDestination,
    setSecureContext: resolved.tls === undefined ? undefined : (context) => (app.server as unknown as TlsServer).setSecureContext(context),
  });
  let watchedConfig = { raw: config, baseDir: options.baseDir ?? process.cwd() };

  let closed: Promise<void> | undefined;
  let opsUrl: string | undefined;
  return {
    app,
    ops,
    tokens,
    get opsUrl() {
      return opsUrl;
    },
    async listen() {
      const url = await app.listen(listenAt.path === undefined ? { host: listenAt.host, port: listenAt.port } : { path: listenAt.path });
      opsUrl = await ops.listen({ host: opsAt.host, port: opsAt.port });
      await fileWatch.watch(filesNamedBy(watchedConfig.raw, watchedConfig.baseDir));
      logger.info(
        { url, opsUrl, providers: [...resolved.providers.keys()], consumers: resolved.consumers.length, store: built.kind },
        'tokenbroker broker listening',
      );
      return url;
    },
    reload(next, loadOptions = options) {
      let fresh: ResolvedBrokerConfig;
      let raw: unknown;
      try {
        raw = typeof next === 'function' ? (next as () => unknown)() : next;
        fresh = resolveBrokerConfig(raw, loadOptions);
      } catch (error) {
        // Paths and messages only: a ConfigError never quotes a value.
        const problems = error instanceof ConfigError ? error.issues.map((issue) => `${issue.path}: ${issue.message}`) : [String((error as Error)?.name)];
        logger.error({ problems }, 'reload failed; the running config is kept');
        throw error;
      }
      const restartOnly = (['listen', 'ops', 'store', 'limits', 'proxy', 'tokens', 'logLevel', 'audit', 'tls'] as const).filter(
        (section) => JSON.stringify(fresh[section]) !== JSON.stringify(resolved[section]),
      );
      if (restartOnly.length > 0) logger.warn({ sections: restartOnly }, 'reload: these sections change only on a restart; kept as they were');
      // Providers: a changed credential (its cache key) is registered anew; an unchanged one keeps its token.
      for (const id of resolved.providers.keys()) if (!fresh.providers.has(id)) tokens.unregister(id);
      for (const [id, provider] of fresh.providers) {
        if (resolved.providers.get(id)?.cacheKey !== provider.cacheKey) tokens.register(id, provider);
      }
      resolved = { ...resolved, providers: fresh.providers, proxyOnlyProviders: fresh.proxyOnlyProviders, consumers: fresh.consumers, secrets: fresh.secrets };
      watchedConfig = { raw, baseDir: loadOptions.baseDir ?? process.cwd() };
      if (opsUrl !== undefined) void fileWatch.watch(filesNamedBy(raw, watchedConfig.baseDir));
      live = liveOf(resolved);
      logger.info({ providers: [...fresh.providers.keys()], consumers: fresh.consumers.length }, 'config reloaded');
    },
    close() {
      closed ??= (async () => {
        closing = true;
        logging.stopTimer();
        await fileWatch.stop();
        logger.info('closing: no new connections, finishing requests under way');
        try {
          const appClosed = app.close();
          connections.closeUnused();
          await appClosed;
          await ops.close();
        } finally {
          metrics.close();
          await tokens.close();
          logger.info('closed');
          logging.flush();
        }
      })();
      return closed;
    },
  };
}

function liveOf(resolved: ResolvedBrokerConfig): LiveConfig {
  return {
    consumers: resolved.consumers,
    providerIds: new Set(resolved.providers.keys()),
    providers: resolved.providers,
    proxyOnlyProviders: resolved.proxyOnlyProviders,
  };
}

/** The ops listener: liveness, readiness, metrics. No logger: scrapes and probes are not worth a line each. */
function buildOpsApp(
  metrics: BrokerMetrics,
  closing: () => boolean,
  store: ReturnType<typeof buildBrokerStore>,
  storeOutage: 'degraded' | 'not_ready',
): FastifyInstance {
  const ops = Fastify({ logger: false, return503OnClosing: true, forceCloseConnections: true });
  ops.get('/healthz', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return { status: 'ok' };
  });
  ops.get('/readyz', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    const reachable = await store.reachable(READY_TIMEOUT_MS);
    // Tokens are still served from this process while the shared store is down: degraded, not out.
    const ready = !closing() && (reachable || storeOutage === 'degraded');
    reply.code(ready ? 200 : 503);
    const status = !ready ? 'not_ready' : reachable ? 'ready' : 'degraded';
    return { status, checks: { config: 'loaded', store: reachable ? 'reachable' : 'unreachable', closing: closing() } };
  });
  ops.get('/metrics', async (_request, reply) => {
    reply.header('cache-control', 'no-store').type(metrics.registry.contentType);
    return metrics.text();
  });
  ops.setNotFoundHandler((_request, reply) => {
    reply.code(404).header('cache-control', 'no-store');
    return { error: { code: 'not_found', message: 'No such route' } };
  });
  return ops;
}
