/**
 * The credential broker behind `tokenbroker serve`. Kept out of the main entry point: applications
 * that only fetch tokens never load Fastify or prom-client.
 */
export { createBroker, type Broker, type BrokerOptions, type LogDestination } from './server.js';
export {
  configFileContext,
  DEFAULT_LIMITS,
  readBrokerConfigFile,
  resolveBrokerConfig,
  type BrokerConfig,
  type ConsumerConfig,
  type LoadContext,
  type ProviderConfig,
  type ResolvedBrokerConfig,
  type StoreConfig,
} from './config.js';
export { keyDigest } from './auth.js';
export type { BrokerErrorCode } from './errors.js';
