/**
 * `tokenbroker/redis`: the store that makes a fleet of processes share tokens, a lock per credential
 * and the issuance budget, on a single Redis node, Sentinel or Cluster. Needs the `ioredis` package
 * (an optional peer dependency: `npm install ioredis`), loaded only when {@link redisStore} is called.
 *
 * @packageDocumentation
 */
import type { SharedTokenStore } from '../types.js';
import { loadIoredis, openConnection } from './connection.js';
import { parseRedisStoreOptions, type RedisStoreOptions } from './options.js';
import { RedisTokenStore } from './store.js';

export type {
  RedisClientConnection,
  RedisClusterConnection,
  RedisConnection,
  RedisNode,
  RedisSentinelConnection,
  RedisStoreOptions,
  RedisStoreSettings,
  RedisUrlConnection,
} from './options.js';

/**
 * A store shared through Redis: one token request per credential per token lifetime across every
 * process that uses the same Redis and `keyPrefix`, a fleet-wide lock per credential, and a fleet-wide
 * issuance budget that survives restarts and is counted by the Redis server's clock.
 *
 * Connect with exactly one of `url` (single node, `rediss://` for TLS), `sentinels` + `name`,
 * `cluster` (nodes), or `client` (your own ioredis `Redis` or `Cluster`). docs/distributed.md says
 * which to use for each deployment and what happens when a node fails.
 *
 * @example
 * ```ts
 * import { redisStore } from 'tokenbroker/redis';
 *
 * const tokens = createTokenManager({
 *   providers,
 *   store: redisStore({ url: process.env.REDIS_URL!, encryptionKeys: [process.env.TOKEN_KEY!] }),
 * });
 * // Cluster:  redisStore({ cluster: [{ host: 'redis-1', port: 6379 }] })
 * // Sentinel: redisStore({ sentinels: [{ host: 'sentinel-1', port: 26379 }], name: 'mymaster' })
 * ```
 * @throws `ConfigError` (from `tokenbroker`) naming every invalid option (never quoting a key or a password), or
 * naming `npm install ioredis` when ioredis is not installed.
 */
export function redisStore(options: RedisStoreOptions): SharedTokenStore {
  const { connection, settings } = parseRedisStoreOptions(options);
  const ioredis = loadIoredis();
  return new RedisTokenStore(openConnection(connection, ioredis, settings.commandTimeoutMs), settings);
}
