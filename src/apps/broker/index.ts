/**
 * `tokenbroker/broker`: the credential broker behind `tokenbroker serve`, for programmatic use and
 * tests. Needs the optional peer dependencies `fastify` and `prom-client` (`npm install fastify
 * prom-client`); applications that only fetch tokens never load them.
 *
 * The entry point is the broker itself: `createBroker`, its options, the config file's types, the error
 * codes it answers with, and `keyDigest` for consumers' `keySha256`. What the `serve` command needs
 * beyond that (reading and checking the config file) is internal.
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
export type { BrokerConfig, BrokerLimits, ConsumerConfig, ProviderConfig, StoreConfig, TlsConfig } from './config.js';
export { keyDigest } from './auth.js';
export type { BrokerErrorCode } from './errors.js';
