/**
 * The shared store on Redis: tokens, the per-credential lock and the issuance ledger live in Redis,
 * so a fleet of processes behaves like one. See docs/distributed.md for the picture.
 *
 * Every call is bounded by `commandTimeoutMs`: when Redis is down or slow the call fails fast, the
 * manager falls back to its own cache with a warning, and comes back once Redis answers again.
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import type { Token } from '../../base/token.js';
import type { CallBudget, IssuanceLedger, SharedTokenStore } from '../types.js';
import { fingerprint, TokenCodec } from '../codec.js';
import { TokenWaits } from '../wait.js';
import { StoreWarnings } from '../warnings.js';
import { RedisCallBudget } from './call-budget.js';
import type { Connection, RedisClient } from './connection.js';
import { namesFor, type Names } from './keys.js';
import { RedisLedger } from './ledger.js';
import type { Settings } from './options.js';
import { COMPARE_AND_DELETE_TOKEN, EXTEND_LOCK, RELEASE_LOCK, SET_AND_PUBLISH } from './scripts.js';
import { Subscriptions } from './subscriptions.js';
import { redisDeadline } from './wait.js';

/** The {@link SharedTokenStore} on Redis. */
export class RedisTokenStore implements SharedTokenStore {
  readonly shared = true as const;
  readonly ledger: IssuanceLedger;
  readonly callBudget: CallBudget;
  readonly #connection: Connection;
  readonly #client: RedisClient;
  readonly #settings: Settings;
  readonly #codec: TokenCodec;
  readonly #subscriptions: Subscriptions;
  readonly #waits: TokenWaits;
  readonly #warnings: StoreWarnings;
  #readyPromise: Promise<void> | undefined;
  #readyListener: (() => void) | undefined;
  #connectionTrouble = false;
  #closed = false;

  constructor(connection: Connection, settings: Settings) {
    this.#connection = connection;
    this.#client = connection.client;
    this.#settings = settings;
    this.#codec = new TokenCodec(settings.keys);
    this.#waits = new TokenWaits(settings.pollIntervalMs);
    this.#warnings = new StoreWarnings('redis', settings.logger);
    if (connection.owned) {
      this.#client.on('error', (error: Error) => this.#connectionError(error));
      this.#client.on('ready', () => {
        this.#connectionTrouble = false;
      });
    }
    this.#subscriptions = new Subscriptions(
      () => connection.openSubscriber(),
      connection.sharded,
      (error) => this.#connectionError(error),
    );
    this.ledger = new RedisLedger(
      (what, op) => this.#run(what, op),
      (key) => this.#names(key).ledger,
    );
    this.callBudget = new RedisCallBudget(
      (what, op) => this.#run(what, op),
      (key) => this.#names(key),
    );
  }

  async get(key: string): Promise<Token | undefined> {
    const raw = await this.#run('GET', (client) => client.get(this.#names(key).token));
    return raw === null ? undefined : this.#decode(key, raw);
  }

  async set(key: string, token: Token, ttlMs: number): Promise<void> {
    const names = this.#names(key);
    const value = this.#codec.encode(key, token);
    const sharded = this.#connection.sharded ? '1' : '0';
    await this.#run('SET', (client) => client.eval(SET_AND_PUBLISH, 1, names.token, value, Math.max(1, Math.ceil(ttlMs)), names.channel, sharded));
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
    const reply = await this.#run('extend lock', (client) => client.eval(EXTEND_LOCK, 1, this.#names(key).lock, owner, Math.max(1, Math.ceil(ttlMs))));
    return reply === 1;
  }

  /**
   * Waits for another process's token by the stores' one wait protocol (`../wait.ts`). Redis supplies
   * the look (GET and EXISTS in one transaction) and the wake-up: a notification on the credential's
   * channel, published right after SET; polling every `pollIntervalMs` covers a missed one. A Redis
   * failure rejects (the manager then falls back to its own cache).
   */
  async waitForToken(key: string, timeoutMs: number, signal: AbortSignal): Promise<Token | undefined> {
    const names = this.#names(key);
    return this.#waits.wait(
      {
        look: async () => {
          const [raw, locked] = await this.#run('poll', (client) => poll(client, names));
          return { raw: raw ?? undefined, locked };
        },
        decode: (raw) => this.#decode(key, raw),
        subscribe: (wake) => this.#subscriptions.add(names.channel, wake),
      },
      timeoutMs,
      signal,
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#waits.close();
    if (this.#readyListener !== undefined) this.#client.removeListener('ready', this.#readyListener);
    await this.#subscriptions.close();
    if (this.#connection.owned) {
      await redisDeadline(this.#client.quit(), this.#settings.commandTimeoutMs, 'QUIT').catch(() => {});
      this.#client.disconnect();
    }
  }

  /** One Redis operation, connecting included, bounded by `commandTimeoutMs`. */
  #run<T>(what: string, op: (client: RedisClient) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('the Redis store is closed'));
    const client = this.#client;
    if (client.status === 'ready') return redisDeadline(op(client), this.#settings.commandTimeoutMs, what);
    if (client.status === 'end') return Promise.reject(new Error('the Redis connection is closed'));
    return redisDeadline(
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
    return this.#warnings.decode(this.#codec, key, raw);
  }

  #connectionError(error: Error): void {
    // Once per outage: ioredis reports every failed reconnect.
    if (this.#connectionTrouble || this.#closed) return;
    this.#connectionTrouble = true;
    this.#warnings.warn({ error: { name: error.name, message: error.message } }, 'Redis connection error; ioredis keeps reconnecting');
  }

  #names(key: string): Names {
    return namesFor(this.#settings.keyPrefix, key);
  }

  /** The public shape only: no password, no key. */
  #describe(): Record<string, unknown> {
    return {
      kind: 'redis',
      ...this.#connection.description,
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

/** The token and whether the lock is held, in one transaction (one slot: the names share a hash tag). */
async function poll(client: RedisClient, names: Names): Promise<readonly [string | null, boolean]> {
  const transaction = client.multi();
  transaction.get(names.token);
  transaction.exists(names.lock);
  const results = await transaction.exec();
  if (results === null) throw new Error('Redis poll transaction was aborted');
  const [[getError, value], [existsError, count]] = results as [[Error | null, unknown], [Error | null, unknown]];
  if (getError !== null) throw getError;
  if (existsError !== null) throw existsError;
  return [value as string | null, count === 1];
}
