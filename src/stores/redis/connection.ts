/**
 * Connections to Redis: loading ioredis (an optional peer dependency, loaded only when a Redis store
 * is made), the bounded connection options, and opening the command and subscriber connections for
 * each way of connecting — URL, Sentinel, Cluster, or a client of the user's own.
 */
import { createRequire } from 'node:module';
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { ConfigError } from '../../base/errors.js';

/** What the store needs of a command connection; ioredis `Redis` and `Cluster` both have it. */
export interface RedisClient {
  readonly status: string;
  connect(): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
  eval(script: string, numberOfKeys: number, ...args: Array<string | number>): Promise<unknown>;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, px: 'PX', ttlMs: number, nx: 'NX'): Promise<'OK' | null>;
  del(key: string): Promise<number>;
  zrem(key: string, member: string): Promise<number>;
  multi(): { get(key: string): unknown; exists(key: string): unknown; exec(): Promise<Array<[Error | null, unknown]> | null> };
  on(event: string, listener: (...args: never[]) => void): unknown;
  once(event: string, listener: () => void): unknown;
  removeListener(event: string, listener: () => void): unknown;
}

/** What the store needs of a subscriber connection. */
export interface RedisSubscriber {
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  ssubscribe(channel: string): Promise<unknown>;
  sunsubscribe(channel: string): Promise<unknown>;
  on(event: string, listener: (...args: never[]) => void): unknown;
  disconnect(): void;
}

/** The parts of the ioredis module the store uses. */
export interface IoredisModule {
  readonly Redis: typeof Redis;
  readonly Cluster: typeof Cluster;
}

/** A host and port of a Redis node or a Sentinel. */
export interface NodeAddress {
  readonly host: string;
  readonly port: number;
}

/** A validated connection, as redisStore's options gave it. */
export type ConnectionSpec =
  | { readonly kind: 'url'; readonly url: string; readonly tls?: Record<string, unknown> | undefined }
  | { readonly kind: 'client'; readonly client: Redis | Cluster }
  | { readonly kind: 'cluster'; readonly nodes: readonly NodeAddress[]; readonly options: ClusterOptions | undefined }
  | {
      readonly kind: 'sentinel';
      readonly sentinels: readonly NodeAddress[];
      readonly name: string;
      readonly username?: string | undefined;
      readonly password?: string | undefined;
      readonly sentinelUsername?: string | undefined;
      readonly sentinelPassword?: string | undefined;
      readonly db?: number | undefined;
      readonly tls?: boolean | Record<string, unknown> | undefined;
    };

/** An open connection: the client for commands and how to open the subscriber. */
export interface Connection {
  readonly client: RedisClient;
  /** True when the store opened the client and so closes it. */
  readonly owned: boolean;
  /** Cluster: notifications go over sharded channels (SPUBLISH/SSUBSCRIBE), which stay on one node. */
  readonly sharded: boolean;
  /** What inspect/JSON may show: no password, no key. */
  readonly description: Readonly<Record<string, unknown>>;
  /** Opens the subscriber connection (once, lazily, on the first wait). */
  openSubscriber(): RedisSubscriber;
}

const requireFromHere = createRequire(import.meta.url);

/**
 * Loads ioredis synchronously, so `redisStore()` stays synchronous and `import 'tokenbroker/redis'`
 * alone loads nothing. `load` is the module loader (a parameter for tests).
 * @throws {@link ConfigError} naming the install command when ioredis is not installed.
 */
export function loadIoredis(load: (id: string) => unknown = requireFromHere): IoredisModule {
  try {
    return load('ioredis') as IoredisModule;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code !== 'MODULE_NOT_FOUND' && code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new ConfigError([{ path: 'redisStore', message: 'needs the ioredis package, an optional peer dependency of tokenbroker: npm install ioredis' }]);
  }
}

/** Reconnect delays: ioredis reconnects by itself, at most 2 s apart so sharing resumes soon after Redis returns. */
const reconnectDelay = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2_000);

/**
 * Per-node bounds: a command is never resent after a reconnect (no stale lock or ledger command
 * replayed later), and is answered within the timeout.
 */
function nodeBounds(commandTimeoutMs: number) {
  return {
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(1_000, 2 * commandTimeoutMs),
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
  } satisfies RedisOptions;
}

/**
 * The bounded options of every single-node connection the store (or the broker) opens: fail fast, a
 * command written only to a ready connection (no offline queue), never replayed, within the timeout.
 * The one place these are written.
 */
export function boundedRedisOptions(commandTimeoutMs: number): RedisOptions {
  return { ...nodeBounds(commandTimeoutMs), enableOfflineQueue: false, retryStrategy: reconnectDelay };
}

/** The same bounds for a Cluster, over the user's own Cluster options (the bounds win). */
function boundedClusterOptions(user: ClusterOptions | undefined, commandTimeoutMs: number): ClusterOptions {
  return {
    ...user,
    enableOfflineQueue: false,
    clusterRetryStrategy: reconnectDelay,
    slotsRefreshTimeout: Math.max(1_000, commandTimeoutMs),
    redisOptions: { ...user?.redisOptions, ...nodeBounds(commandTimeoutMs) },
  };
}

/** Opens the connection `spec` describes. Nothing is connected until the first command. */
export function openConnection(spec: ConnectionSpec, ioredis: IoredisModule, commandTimeoutMs: number): Connection {
  const bounded = boundedRedisOptions(commandTimeoutMs);
  // The subscriber may queue SUBSCRIBE until it is connected: losing one only means polling.
  const queued = { enableOfflineQueue: true } as const;
  switch (spec.kind) {
    case 'url': {
      const options: RedisOptions = spec.tls === undefined ? bounded : { ...bounded, tls: spec.tls };
      return {
        client: new ioredis.Redis(spec.url, options),
        owned: true,
        sharded: false,
        description: { url: displayUrl(spec.url) },
        openSubscriber: () => new ioredis.Redis(spec.url, { ...options, ...queued }),
      };
    }
    case 'sentinel': {
      const options: RedisOptions = {
        ...bounded,
        sentinels: spec.sentinels.map(({ host, port }) => ({ host, port })),
        name: spec.name,
        role: 'master',
        sentinelCommandTimeout: commandTimeoutMs,
        sentinelRetryStrategy: reconnectDelay,
        // Watches the sentinels for a new master, so a master that vanishes without closing its
        // connections (a partition) is left as soon as the sentinels elect another.
        failoverDetector: true,
        ...(spec.username === undefined ? {} : { username: spec.username }),
        ...(spec.password === undefined ? {} : { password: spec.password }),
        ...(spec.sentinelUsername === undefined ? {} : { sentinelUsername: spec.sentinelUsername }),
        ...(spec.sentinelPassword === undefined ? {} : { sentinelPassword: spec.sentinelPassword }),
        ...(spec.db === undefined ? {} : { db: spec.db }),
        ...(spec.tls === undefined || spec.tls === false ? {} : { tls: spec.tls === true ? {} : spec.tls }),
      };
      return {
        client: new ioredis.Redis(options),
        owned: true,
        sharded: false,
        description: { sentinels: spec.sentinels.map(address), name: spec.name },
        openSubscriber: () => new ioredis.Redis({ ...options, ...queued, failoverDetector: false }),
      };
    }
    case 'cluster': {
      const nodes = spec.nodes.map(({ host, port }) => ({ host, port }));
      const options = boundedClusterOptions(spec.options, commandTimeoutMs);
      return {
        client: new ioredis.Cluster(nodes, options) as unknown as RedisClient,
        owned: true,
        sharded: true,
        description: { cluster: spec.nodes.map(address) },
        openSubscriber: () => new ioredis.Cluster(nodes, { ...options, ...queued, shardedSubscribers: true }) as unknown as RedisSubscriber,
      };
    }
    case 'client': {
      const client = spec.client;
      if (isCluster(client)) {
        return {
          client: client as unknown as RedisClient,
          owned: false,
          sharded: true,
          description: { connection: 'cluster client' },
          openSubscriber: () => client.duplicate(undefined, { ...queued, shardedSubscribers: true }) as unknown as RedisSubscriber,
        };
      }
      return {
        client: client as unknown as RedisClient,
        owned: false,
        sharded: false,
        description: { connection: 'client' },
        openSubscriber: () => client.duplicate({ ...queued, lazyConnect: false }) as unknown as RedisSubscriber,
      };
    }
  }
}

function isCluster(client: Redis | Cluster): client is Cluster {
  return (client as { isCluster?: unknown }).isCluster === true;
}

const address = ({ host, port }: NodeAddress): string => `${host}:${port}`;

/** The URL as it may be shown: no password, no query (ioredis accepts `?password=`). */
function displayUrl(url: string): string {
  const parsed = new URL(url);
  parsed.password = '';
  parsed.search = '';
  return parsed.toString();
}
