/**
 * The shared store on Redis (ioredis): tokens, the per-credential lock and the issuance ledger live in
 * Redis, so a fleet of processes behaves like one. See docs/distributed.md for the picture.
 *
 * Every call is bounded by `commandTimeoutMs`: when Redis is down or slow the call fails fast, the
 * manager falls back to its own cache with a warning, and comes back once Redis answers again.
 */
import { createHash, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { Redis, type RedisOptions } from 'ioredis';
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Token } from '../token.js';
import { durationMs, functionSchema, parseOptions } from '../validate.js';
import { fingerprint, TokenCodec, UnreadableValueError } from './codec.js';
import { COMPARE_AND_DELETE_TOKEN, EXTEND_LOCK, RELEASE_LOCK, RESERVE, SET_AND_PUBLISH } from './redis/scripts.js';
import { Wakeup, withDeadline } from './redis/wait.js';
import type { IssuanceLedger, LedgerDecision, SharedTokenStore } from './types.js';

/** Where the Redis store connects: a URL (the store owns its connections) or your own ioredis client. */
export type RedisConnection =
  | {
      /** `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). The store opens and closes its connections. */
      readonly url: string;
    }
  | {
      /**
       * An ioredis client you created and keep: the store never closes it (it closes only the
       * subscriber connection it duplicates from it). Give it bounded timeouts — `commandTimeout`,
       * `maxRetriesPerRequest` — as the store's own calls are bounded by `commandTimeoutMs` anyway.
       */
      readonly client: Redis;
    };

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
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

const DEFAULT_PREFIX = 'tokenbroker:';


const redisUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '';
  } catch {
    return false;
  }
}, 'must be a redis:// or rediss:// URL');

const ioredisClient = z.custom<Redis>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { duplicate?: unknown }).duplicate === 'function' &&
    typeof (value as { eval?: unknown }).eval === 'function' &&
    typeof (value as { status?: unknown }).status === 'string',
  'must be an ioredis client (new Redis(…))',
);

const base64Key = z
  .string()
  .refine((value) => /^[A-Za-z0-9+/]+={0,2}$/.test(value) && Buffer.from(value, 'base64').length === 32, 'must be a base64-encoded 32-byte key');

const connectionSchemas = {
  url: z.strictObject({ url: redisUrl }),
  client: z.strictObject({ client: ioredisClient }),
};

const optionsSchema = z.strictObject({
  keyPrefix: z.string().max(256).optional(),
  encryptionKeys: z.array(base64Key).min(1).optional(),
  commandTimeoutMs: durationMs.min(1).max(60_000).optional(),
  pollIntervalMs: durationMs.min(10).max(60_000).optional(),
  logger: z.looseObject({ warn: functionSchema }).optional(),
});

/**
 * A store shared through Redis: one token request per credential per token lifetime across every
 * process that uses the same Redis and `keyPrefix`, a fleet-wide lock per credential, and a fleet-wide
 * issuance budget that survives restarts.
 *
 * @example
 * ```ts
 * const tokens = createTokenManager({
 *   providers,
 *   store: redisStore({ url: process.env.REDIS_URL! }, { encryptionKeys: [process.env.TOKEN_KEY!] }),
 * });
 * ```
 * @throws {@link ConfigError} naming every invalid option (never quoting a key or a password).
 */
export function redisStore(connection: RedisConnection, options: RedisStoreOptions = {}): SharedTokenStore {
  const issues: ConfigIssue[] = [];
  const byClient = typeof connection === 'object' && connection !== null && 'client' in connection;
  let parsedConnection: { url: string } | { client: Redis } | undefined;
  let parsedOptions: z.output<typeof optionsSchema> | undefined;
  try {
    parsedConnection = parseOptions(byClient ? connectionSchemas.client : connectionSchemas.url, connection, 'redisStore');
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    issues.push(...error.issues);
  }
  try {
    parsedOptions = parseOptions(optionsSchema, options, 'redisStore');
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    issues.push(...error.issues);
  }
  if (issues.length > 0 || parsedConnection === undefined || parsedOptions === undefined) throw new ConfigError(issues);
  return new RedisTokenStore(parsedConnection, {
    keyPrefix: parsedOptions.keyPrefix ?? DEFAULT_PREFIX,
    keys: (parsedOptions.encryptionKeys ?? []).map((key) => Buffer.from(key, 'base64')),
    commandTimeoutMs: parsedOptions.commandTimeoutMs ?? 1_000,
    pollIntervalMs: parsedOptions.pollIntervalMs ?? 250,
    logger: options.logger,
  });
}

interface Settings {
  readonly keyPrefix: string;
  readonly keys: readonly Buffer[];
  readonly commandTimeoutMs: number;
  readonly pollIntervalMs: number;
  readonly logger: Pick<Logger, 'warn'> | undefined;
}

/** The Redis names of one credential. The cache key is hashed: bounded length, no client id in key listings. */
interface Names {
  readonly token: string;
  readonly lock: string;
  readonly ledger: string;
  readonly channel: string;
}

class RedisTokenStore implements SharedTokenStore {
  readonly shared = true as const;
  readonly ledger: IssuanceLedger;
  readonly #client: Redis;
  readonly #owned: boolean;
  /** For inspection only: the URL without password or query. */
  readonly #displayUrl: string | undefined;
  readonly #settings: Settings;
  readonly #codec: TokenCodec;
  readonly #subscriptions: Subscriptions;
  readonly #waiters = new Set<Wakeup>();
  #readyPromise: Promise<void> | undefined;
  #readyListener: (() => void) | undefined;
  #connectionTrouble = false;
  #closed = false;

  constructor(connection: { url: string } | { client: Redis }, settings: Settings) {
    this.#settings = settings;
    this.#codec = new TokenCodec(settings.keys);
    // Bounded everywhere: a command is written only to a ready connection (no offline queue to replay
    // stale lock or ledger commands later), never resent after a reconnect, and answered within the timeout.
    const bounded: RedisOptions = {
      commandTimeout: settings.commandTimeoutMs,
      connectTimeout: Math.max(1_000, 2 * settings.commandTimeoutMs),
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      // ioredis reconnects by itself; at most 2 s apart so sharing resumes soon after Redis returns.
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
    };
    if ('url' in connection) {
      this.#client = new Redis(connection.url, bounded);
      this.#owned = true;
      this.#displayUrl = displayUrl(connection.url);
      this.#client.on('error', (error: Error) => this.#connectionError(error));
      this.#client.on('ready', () => {
        this.#connectionTrouble = false;
      });
      const url = connection.url;
      // The subscriber may queue SUBSCRIBE until it is connected: losing one only means polling.
      this.#subscriptions = new Subscriptions(() => new Redis(url, { ...bounded, enableOfflineQueue: true }), (error) => this.#connectionError(error));
    } else {
      this.#client = connection.client;
      this.#owned = false;
      this.#displayUrl = undefined;
      const client = connection.client;
      this.#subscriptions = new Subscriptions(
        () => client.duplicate({ enableOfflineQueue: true, lazyConnect: false }),
        (error) => this.#connectionError(error),
      );
    }
    this.ledger = new RedisLedger((what, op) => this.#run(what, op), (key) => this.#names(key).ledger);
  }

  async get(key: string): Promise<Token | undefined> {
    const raw = await this.#run('GET', (client) => client.get(this.#names(key).token));
    return raw === null ? undefined : this.#decode(key, raw);
  }

  async set(key: string, token: Token, ttlMs: number): Promise<void> {
    const names = this.#names(key);
    const value = this.#codec.encode(key, token);
    await this.#run('SET', (client) => client.eval(SET_AND_PUBLISH, 1, names.token, value, Math.max(1, Math.ceil(ttlMs)), names.channel));
  }

  async delete(key: string, accessToken?: string): Promise<void> {
    const names = this.#names(key);
    if (accessToken === undefined) await this.#run('DEL', (client) => client.del(names.token));
    else await this.#run('compare-and-delete', (client) => client.eval(COMPARE_AND_DELETE_TOKEN, 1, names.token, fingerprint(accessToken)));
  }

  async acquireLock(key: string, ttlMs: number): Promise<string | undefined> {
    const owner = randomBytes(16).toString('base64url');
    const reply = await this.#run('lock', (client) => client.set(this.#names(key).lock, owner, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'));
    return reply === 'OK' ? owner : undefined;
  }

  async releaseLock(key: string, owner: string): Promise<void> {
    await this.#run('unlock', (client) => client.eval(RELEASE_LOCK, 1, this.#names(key).lock, owner));
  }

  async extendLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const reply = await this.#run('extend lock', (client) =>
      client.eval(EXTEND_LOCK, 1, this.#names(key).lock, owner, Math.max(1, Math.ceil(ttlMs))),
    );
    return reply === 1;
  }

  /**
   * Waits for another process's token: woken by a notification on the credential's channel (published
   * right after SET), and polling every `pollIntervalMs` in case one is missed. Resolves with a token
   * stored after the wait began; or with whatever is stored (maybe nothing) as soon as the lock is gone —
   * its holder finished or died, and the manager decides whether to take over; or undefined after
   * `timeoutMs`. A Redis failure rejects (the manager then falls back to its own cache).
   */
  async waitForToken(key: string, timeoutMs: number, signal: AbortSignal): Promise<Token | undefined> {
    signal.throwIfAborted();
    if (this.#closed) return undefined;
    const names = this.#names(key);
    const deadline = Date.now() + timeoutMs;
    const wakeup = new Wakeup();
    const onAbort = () => wakeup.fire();
    signal.addEventListener('abort', onAbort, { once: true });
    this.#waiters.add(wakeup);
    // Subscribe before the first look, so a token stored in between is not missed.
    const unsubscribe = this.#subscriptions.add(names.channel, () => wakeup.fire());
    try {
      let first = true;
      let initial: string | null = null;
      for (;;) {
        const [raw, lockHeld] = await this.#run('poll', async (client) => {
          const results = await client.multi().get(names.token).exists(names.lock).exec();
          if (results === null) throw new Error('Redis poll transaction was aborted');
          const [[getError, value], [existsError, count]] = results as [[Error | null, unknown], [Error | null, unknown]];
          if (getError !== null) throw getError;
          if (existsError !== null) throw existsError;
          return [value as string | null, count === 1] as const;
        });
        signal.throwIfAborted();
        if (!first && raw !== null && raw !== initial) {
          const token = this.#decode(key, raw);
          if (token !== undefined) return token;
        }
        if (!lockHeld) return raw === null ? undefined : this.#decode(key, raw);
        if (first) {
          first = false;
          initial = raw;
        }
        const remaining = deadline - Date.now();
        if (remaining <= 0 || this.#closed) return undefined;
        await wakeup.sleep(Math.min(remaining, this.#settings.pollIntervalMs));
        signal.throwIfAborted();
        if (this.#closed) return undefined;
      }
    } finally {
      unsubscribe();
      this.#waiters.delete(wakeup);
      signal.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const waiter of this.#waiters) waiter.fire();
    if (this.#readyListener !== undefined) this.#client.removeListener('ready', this.#readyListener);
    await this.#subscriptions.close();
    if (this.#owned) {
      await withDeadline(this.#client.quit(), this.#settings.commandTimeoutMs, 'QUIT').catch(() => {});
      this.#client.disconnect();
    }
  }

  /** One Redis operation, connecting included, bounded by `commandTimeoutMs`. */
  #run<T>(what: string, op: (client: Redis) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('the Redis store is closed'));
    const client = this.#client;
    if (client.status === 'ready') return withDeadline(op(client), this.#settings.commandTimeoutMs, what);
    if (client.status === 'end') return Promise.reject(new Error('the Redis connection is closed'));
    return withDeadline(
      this.#whenReady().then(() => op(client)),
      this.#settings.commandTimeoutMs,
      `${what} (not connected)`,
    );
  }

  /** One shared promise (one listener) for every call waiting for the connection. */
  #whenReady(): Promise<void> {
    if (this.#readyPromise === undefined) {
      if (this.#client.status === 'wait') this.#client.connect().catch(() => {});
      this.#readyPromise = new Promise<void>((resolve) => {
        this.#readyListener = () => {
          this.#readyPromise = undefined;
          this.#readyListener = undefined;
          resolve();
        };
        this.#client.once('ready', this.#readyListener);
      });
    }
    return this.#readyPromise;
  }

  #decode(key: string, raw: string): Token | undefined {
    try {
      return this.#codec.decode(key, raw);
    } catch (error) {
      if (!(error instanceof UnreadableValueError)) throw error;
      this.#warn({ reason: error.message }, 'unreadable token in Redis; counted as a miss, a fresh token will replace it');
      return undefined;
    }
  }

  #connectionError(error: Error): void {
    // Once per outage: ioredis reports every failed reconnect.
    if (this.#connectionTrouble || this.#closed) return;
    this.#connectionTrouble = true;
    this.#warn({ error: { name: error.name, message: error.message } }, 'Redis connection error; ioredis keeps reconnecting');
  }

  #warn(object: Record<string, unknown>, message: string): void {
    try {
      this.#settings.logger?.warn({ store: 'redis', ...object }, message);
    } catch {
      // A broken logger must not break token delivery.
    }
  }

  #names(key: string): Names {
    const id = createHash('sha256').update(key, 'utf8').digest('base64url');
    const prefix = this.#settings.keyPrefix;
    return { token: `${prefix}token:${id}`, lock: `${prefix}lock:${id}`, ledger: `${prefix}ledger:${id}`, channel: `${prefix}stored:${id}` };
  }

  /** The public shape only: no password, no key. */
  #describe(): Record<string, unknown> {
    return {
      kind: 'redis',
      ...(this.#displayUrl === undefined ? { connection: 'client' } : { url: this.#displayUrl }),
      keyPrefix: this.#settings.keyPrefix,
      encrypted: this.#codec.encrypted,
      closed: this.#closed,
    };
  }

  [inspect.custom](): string {
    return `RedisTokenStore ${inspect(this.#describe())}`;
  }

  toJSON(): unknown {
    return this.#describe();
  }
}

/** The issuance ledger in a sorted set per credential: fleet-wide, and it outlives every process. */
type Runner = <T>(what: string, op: (client: Redis) => Promise<T>) => Promise<T>;

class RedisLedger implements IssuanceLedger {
  readonly #run: Runner;
  readonly #keyOf: (key: string) => string;

  constructor(run: Runner, keyOf: (key: string) => string) {
    this.#run = run;
    this.#keyOf = keyOf;
  }

  async reserve(key: string, now: number, limit: number, windowMs: number): Promise<LedgerDecision> {
    const reservation = randomBytes(12).toString('base64url');
    const reply = await this.#run('ledger reserve', (client) =>
      client.eval(RESERVE, 1, this.#keyOf(key), Math.floor(now), Math.ceil(windowMs), limit, reservation),
    );
    const [allowed, retryAfterMs] = reply as [number, number];
    return allowed === 1 ? { allowed: true, reservation } : { allowed: false, retryAfterMs: Math.max(1, Number(retryAfterMs)) };
  }

  async release(key: string, reservation: string): Promise<void> {
    await this.#run('ledger release', (client) => client.zrem(this.#keyOf(key), reservation));
  }

  async confirm(key: string, reservation: string, now: number): Promise<void> {
    // XX: only a reservation still there (not released, not aged out); GT: a time only ever moves forward.
    await this.#run('ledger confirm', (client) => client.zadd(this.#keyOf(key), 'XX', 'GT', Math.floor(now), reservation));
  }

  [inspect.custom](): string {
    return 'RedisLedger';
  }

  toJSON(): unknown {
    return { kind: 'redis-ledger' };
  }
}

/**
 * Channel subscriptions on one lazily opened subscriber connection, shared by every waiter of this
 * store; a channel is subscribed while at least one waiter listens on it.
 */
class Subscriptions {
  readonly #listeners = new Map<string, Set<() => void>>();
  readonly #create: () => Redis;
  readonly #onError: (error: Error) => void;
  #subscriber: Redis | undefined;
  #closed = false;

  constructor(create: () => Redis, onError: (error: Error) => void) {
    this.#create = create;
    this.#onError = onError;
  }

  /** Calls `listener` on each message on `channel`; returns the function that stops it. */
  add(channel: string, listener: () => void): () => void {
    if (this.#closed) return () => {};
    let listeners = this.#listeners.get(channel);
    if (listeners === undefined) {
      listeners = new Set();
      this.#listeners.set(channel, listeners);
      // Not awaited: until it is subscribed (or if it never is), polling finds the token.
      this.#connection().subscribe(channel).catch(() => {});
    }
    listeners.add(listener);
    const set = listeners;
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#listeners.get(channel) === set) {
        this.#listeners.delete(channel);
        if (!this.#closed) this.#subscriber?.unsubscribe(channel).catch(() => {});
      }
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
  }

  #connection(): Redis {
    if (this.#subscriber === undefined) {
      const subscriber = this.#create();
      subscriber.on('error', this.#onError);
      subscriber.on('message', (channel: string) => {
        const listeners = this.#listeners.get(channel);
        if (listeners !== undefined) for (const listener of [...listeners]) listener();
      });
      this.#subscriber = subscriber;
    }
    return this.#subscriber;
  }
}

/** The URL as it may be shown: no password, no query (ioredis accepts `?password=`). */
function displayUrl(url: string): string {
  const parsed = new URL(url);
  parsed.password = '';
  parsed.search = '';
  return parsed.toString();
}
