/**
 * redisStore's options: the public types, and their validation (zod) into a connection and settings.
 */
import { encryptionKeySchema } from '../codec.js';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { Cluster, ClusterOptions, Redis } from 'ioredis';
import { z } from 'zod';
import { ConfigError } from '../../base/errors.js';
import type { Logger } from '../../base/logger.js';
import { durationMs, functionSchema, parseOptions } from '../../base/validate.js';
import type { ConnectionSpec } from './connection.js';

/** A host and port: a Redis Cluster node or a Sentinel. */
export interface RedisNode {
  /** Host name or IP address. */
  readonly host: string;
  /** TCP port. */
  readonly port: number;
}

/** Connect by URL: a single node. The store opens and closes its connections. */
export interface RedisUrlConnection {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://…` for TLS. */
  readonly url: string;
  /** With a `rediss://` URL: Node's TLS options, e.g. `{ ca }` for a private certificate authority. */
  readonly tls?: TlsOptions;
}

/**
 * Connect through an ioredis client you created and keep: a `Redis` (single node or Sentinel) or a
 * `Cluster`. The store never closes it; it closes only the subscriber connection it duplicates from
 * it. Give it bounded timeouts (`commandTimeout`, `maxRetriesPerRequest`); the store's own calls are
 * bounded by `commandTimeoutMs` anyway.
 */
export interface RedisClientConnection {
  /** `new Redis(…)` or `new Cluster(…)` from ioredis. */
  readonly client: Redis | Cluster;
}

/** Connect to a Redis Cluster (or a managed service in cluster mode). The store opens and closes its connections. */
export interface RedisClusterConnection {
  /** One or more nodes to discover the cluster from. */
  readonly cluster: readonly RedisNode[];
  /**
   * ioredis Cluster options (`redisOptions: { username, password, tls }`, `dnsLookup`, `natMap` …).
   * The store's bounds (offline queue off, command timeout, no retries of a command) replace yours.
   */
  readonly options?: ClusterOptions;
}

/** Connect to the master that Redis Sentinel names; after a failover, to the new master. */
export interface RedisSentinelConnection {
  /** One or more sentinels. */
  readonly sentinels: readonly RedisNode[];
  /** The master group's name in the sentinels' configuration (`sentinel monitor <name> …`). */
  readonly name: string;
  /** ACL user on the Redis nodes. */
  readonly username?: string;
  /** Password on the Redis nodes. */
  readonly password?: string;
  /** ACL user on the sentinels. */
  readonly sentinelUsername?: string;
  /** Password on the sentinels. */
  readonly sentinelPassword?: string;
  /** Database number (default 0). */
  readonly db?: number;
  /** TLS to the Redis nodes: `true`, or Node's TLS options (`ca`, `servername` …). */
  readonly tls?: boolean | TlsOptions;
}

/** Where the Redis store connects: exactly one of `url`, `client`, `cluster`, `sentinels`. */
export type RedisConnection = RedisUrlConnection | RedisClientConnection | RedisClusterConnection | RedisSentinelConnection;

/** What the Redis store does, whichever way it connects. */
export interface RedisStoreSettings {
  /** Prefix of every key and channel the store uses (default `'tokenbroker:'`): one prefix per environment. */
  readonly keyPrefix?: string;
  /**
   * Encrypts tokens at rest with AES-256-GCM. Base64 32-byte keys (`openssl rand -base64 32`): the first
   * encrypts, all decrypt, so a new key goes first and an old one is removed once its tokens have
   * expired. A value no key can decrypt counts as a miss (a fresh token is fetched), never a crash.
   */
  readonly encryptionKeys?: readonly string[];
  /** Longest wait for any Redis call, connecting included (default 1 000). */
  readonly commandTimeoutMs?: number;
  /**
   * While waiting for another process's token, how often Redis is polled in case a notification was
   * missed, and to notice a lock whose holder died (default 250).
   */
  readonly pollIntervalMs?: number;
  /** Receives a warning for unreadable stored values and lost connections (pino-compatible). */
  readonly logger?: Pick<Logger, 'warn'>;
}

/** Options of {@link redisStore}: one connection and the store's settings, in one object. */
export type RedisStoreOptions = RedisConnection & RedisStoreSettings;

/** Settings after validation, defaults applied. */
export interface Settings {
  readonly keyPrefix: string;
  readonly keys: readonly Buffer[];
  readonly commandTimeoutMs: number;
  readonly pollIntervalMs: number;
  readonly logger: Pick<Logger, 'warn'> | undefined;
}

const DEFAULT_PREFIX = 'tokenbroker:';
const PATH = 'redisStore';
const CONNECTION_KEYS = ['url', 'client', 'cluster', 'sentinels'] as const;
type ConnectionKey = (typeof CONNECTION_KEYS)[number];

const redisUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '';
  } catch {
    return false;
  }
}, 'must be a redis:// or rediss:// URL');

const ioredisClient = z.custom<Redis | Cluster>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { duplicate?: unknown }).duplicate === 'function' &&
    typeof (value as { eval?: unknown }).eval === 'function' &&
    typeof (value as { status?: unknown }).status === 'string',
  'must be an ioredis client (new Redis(…) or new Cluster(…))',
);

const node = z.strictObject({ host: z.string().min(1), port: z.number().int().min(1).max(65_535) });
const nodes = z.array(node).min(1);

const settingsFields = {
  keyPrefix: z.string().max(256).optional(),
  encryptionKeys: z.array(encryptionKeySchema).min(1).optional(),
  commandTimeoutMs: durationMs().min(1).max(60_000).optional(),
  pollIntervalMs: durationMs().min(10).max(60_000).optional(),
  logger: z.looseObject({ warn: functionSchema() }).optional(),
};

const connectionFields = {
  url: { url: redisUrl, tls: z.looseObject({}).optional() },
  client: { client: ioredisClient },
  cluster: { cluster: nodes, options: z.looseObject({ redisOptions: z.looseObject({}).optional() }).optional() },
  sentinels: {
    sentinels: nodes,
    name: z.string().min(1),
    username: z.string().optional(),
    password: z.string().optional(),
    sentinelUsername: z.string().optional(),
    sentinelPassword: z.string().optional(),
    db: z.number().int().min(0).optional(),
    tls: z.union([z.boolean(), z.looseObject({})]).optional(),
  },
} satisfies Record<ConnectionKey, Record<string, z.ZodType>>;

const schemas = {
  url: z
    .strictObject({ ...settingsFields, ...connectionFields.url })
    .refine((options) => options.tls === undefined || options.url.startsWith('rediss:'), { path: ['tls'], message: 'needs a rediss:// URL' }),
  client: z.strictObject({ ...settingsFields, ...connectionFields.client }),
  cluster: z.strictObject({ ...settingsFields, ...connectionFields.cluster }),
  sentinels: z.strictObject({ ...settingsFields, ...connectionFields.sentinels }),
};

/** Every field any form accepts, for listing the other problems when the form itself is unclear. */
const anyForm = z.strictObject({
  ...settingsFields,
  ...Object.fromEntries(
    Object.values(connectionFields).flatMap((fields) => Object.entries(fields).map(([name, schema]) => [name, (schema as z.ZodType).optional()])),
  ),
});

/**
 * Validates redisStore's options.
 * @throws {@link ConfigError} listing every problem (never quoting a value: URLs and keys are secrets).
 */
export function parseRedisStoreOptions(input: unknown): { connection: ConnectionSpec; settings: Settings } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError([{ path: PATH, message: `must be an options object with one of ${CONNECTION_KEYS.join(', ')}` }]);
  }
  const given = CONNECTION_KEYS.filter((key) => (input as Record<string, unknown>)[key] !== undefined);
  if (given.length !== 1) {
    const formIssue = {
      path: PATH,
      message: given.length === 0 ? `needs one of ${CONNECTION_KEYS.join(', ')}` : `takes only one of ${CONNECTION_KEYS.join(', ')} (got ${given.join(', ')})`,
    };
    let others: ConfigError['issues'] = [];
    try {
      parseOptions(anyForm, input, PATH);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      others = error.issues;
    }
    throw new ConfigError([formIssue, ...others]);
  }
  const kind = given[0]!;
  const parsed = parseOptions(schemas[kind], input, PATH) as z.output<typeof anyForm>;
  const settings: Settings = {
    keyPrefix: parsed.keyPrefix ?? DEFAULT_PREFIX,
    keys: (parsed.encryptionKeys ?? []).map((key) => Buffer.from(key, 'base64')),
    commandTimeoutMs: parsed.commandTimeoutMs ?? 1_000,
    pollIntervalMs: parsed.pollIntervalMs ?? 250,
    // The caller's object, not zod's copy: a logger's methods may rely on `this`.
    logger: (input as RedisStoreSettings).logger,
  };
  return { connection: toSpec(kind, input as RedisStoreOptions), settings };
}

/** The validated connection; objects the user owns (client, options) are passed on as given. */
function toSpec(kind: ConnectionKey, options: RedisStoreOptions): ConnectionSpec {
  switch (kind) {
    case 'url': {
      const { url, tls } = options as RedisUrlConnection;
      return { kind: 'url', url, tls: tls as Record<string, unknown> | undefined };
    }
    case 'client':
      return { kind: 'client', client: (options as RedisClientConnection).client };
    case 'cluster': {
      const { cluster, options: clusterOptions } = options as RedisClusterConnection;
      return { kind: 'cluster', nodes: cluster, options: clusterOptions };
    }
    case 'sentinels': {
      const { sentinels, name, username, password, sentinelUsername, sentinelPassword, db, tls } = options as RedisSentinelConnection;
      return {
        kind: 'sentinel',
        sentinels,
        name,
        username,
        password,
        sentinelUsername,
        sentinelPassword,
        db,
        tls: tls as boolean | Record<string, unknown> | undefined,
      };
    }
  }
}
