/**
 * What the service listener's parts share: the broker's running state (`ServiceDeps`, given by
 * `createBroker`) and what the admission adds for the routes (`RouteDeps`). A route module is
 * `register…(app, deps)`; it takes what it needs from here.
 */
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { TokenManager } from '../../core/manager.js';
import type { AuditLog } from './audit.js';
import type { BrokerLimits, Consumer, ResolvedTls } from './config.js';
import type { BrokerMetrics } from './metrics.js';
import type { Provider } from '../../providers/provider.js';
import type { CallPacer } from './proxy/pacer.js';
import type { ProxyLimits } from './proxy/config.js';

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

/**
 * Admits a request for provider `request.params.provider` on `route`: the consumer, or undefined when a
 * refusal was sent (and recorded for the audit line).
 */
export type Admit = (request: FastifyRequest<{ Params: { provider: string } }>, reply: FastifyReply, route: string) => Consumer | undefined;

/** What a route gets: the service's state and the admission every consumer request goes through. */
export interface RouteDeps extends ServiceDeps {
  readonly admit: Admit;
}
