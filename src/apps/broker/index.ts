/**
 * `tokenbroker/broker`: the credential broker behind `tokenbroker serve`, for programmatic use and
 * tests. Needs the optional peer dependencies `fastify` and `prom-client` (`npm install fastify
 * prom-client`); applications that only fetch tokens never load them.
 *
 * @example
 * ```ts
 * import { createBroker } from 'tokenbroker/broker';
 * const broker = createBroker(JSON.parse(readFileSync('broker.json', 'utf8')), { env: process.env });
 * const url = await broker.listen();
 * ```
 *
 * @packageDocumentation
 */
export { createBroker, type Broker, type BrokerOptions } from './server.js';
export type { LogDestination } from './logging.js';
export type { AuditDestination } from './audit.js';
export { checkBrokerStore } from './store.js';
export {
  configFileContext,
  DEFAULT_LIMITS,
  DEFAULT_OPS,
  defaultStateDir,
  readBrokerConfigFile,
  resolveBrokerConfig,
  type BrokerConfig,
  type BrokerLimits,
  type Consumer,
  type ConsumerConfig,
  type LoadContext,
  type ProviderConfig,
  type ResolvedBrokerConfig,
  type ResolvedStore,
  type ResolvedTls,
  type StoreConfig,
  type TlsConfig,
} from './config.js';
export { keyDigest } from './auth.js';
export type { BrokerErrorCode } from './errors.js';
