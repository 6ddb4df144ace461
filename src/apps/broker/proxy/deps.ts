/** What the proxy needs of the broker, and the names it shares with the rest of the broker. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Token } from '../../../base/token.js';
import type { Provider } from '../../../providers/provider.js';
import type { Consumer } from '../config.js';
import type { BrokerError } from '../errors.js';
import type { ProxyLimits } from './config.js';
import type { ProxyMetrics } from './metrics.js';
import type { CallPacer } from './pacer.js';

/** The proxy's route pattern (one for the API base itself, one for everything under it). */
export const PROXY_ROUTE = '/v1/proxy/:provider/*';
/** Says why an upstream 401 went back to the consumer unreplayed. */
export const REPLAY_HEADER = 'x-tokenbroker-replay';

/** What the proxy needs of the broker. */
export interface ProxyDeps {
  /** Tokens: get the current one, drop one the API rejected (compare-and-delete). */
  readonly tokens: {
    getToken(id: string): Promise<Token>;
    invalidate(id: string, accessToken?: string): boolean;
  };
  /** The call budget: the token manager's `acquire` and `reportRateLimited`. */
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
