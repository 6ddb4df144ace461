/**
 * The shared store in one SQLite file: tokens, the lock per credential and the issuance ledger, for
 * every process on one host and across their restarts.
 *
 * Each write is one `BEGIN IMMEDIATE` transaction, so two processes never interleave inside one
 * operation; waits for another process's write are bounded by `busy_timeout`. Times are this host's
 * wall clock (`Date.now()`), the same for every process that opens the file. `node:sqlite` is
 * synchronous: a call holds the thread for its few microseconds, and at most `busyTimeoutMs` when
 * another process keeps the file locked — which only happens on the cold path, never on a warm hit.
 */
import { randomBytes } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { inspect } from 'node:util';
import type { Logger } from '../../base/logger.js';
import type { Token } from '../../base/token.js';
import { fingerprint, TokenCodec } from '../codec.js';
import type { CallBudget, IssuanceLedger, LedgerDecision, SharedTokenStore } from '../types.js';
import { TokenWaits } from '../wait.js';
import { StoreWarnings } from '../warnings.js';
import { SqliteCallBudget } from './call-budget.js';
import { fileError, inodeOf, MIGRATIONS, openDatabase, rollback, TokenFileError, type Migration } from './database.js';

/** One stored token as {@link SqliteTokenStore.entries} lists it. */
export interface StoredTokenEntry {
  /** The credential's cache key (provider kind, then hashes; never a secret). */
  readonly key: string;
  /** The token, or undefined when it cannot be read (another encryption key, a damaged value). */
  readonly token: Token | undefined;
  /** When the store forgets it, epoch ms (the token's usable end). */
  readonly storedUntil: number;
}

/** A {@link SharedTokenStore} in a SQLite file, with what the `tokenbroker cache` command needs. */
export interface SqliteTokenStore extends SharedTokenStore {
  /** Every stored token still within its time, ordered by key. */
  entries(): Promise<StoredTokenEntry[]>;
  /**
   * Deletes stored tokens: all of them, or those whose cache key starts with `keyPrefix` (a provider
   * kind and `:`). The issuance ledger is kept: clearing tokens never buys more of them.
   * @returns how many were deleted.
   */
  clear(keyPrefix?: string): Promise<number>;
}

/** Everything the store needs, validated by `sqliteStore()`. */
export interface SqliteSettings {
  /** Absolute path of the file. */
  readonly file: string;
  readonly keys: readonly Buffer[];
  readonly pollIntervalMs: number;
  readonly busyTimeoutMs: number;
  readonly logger: Pick<Logger, 'warn'> | undefined;
  /** The schema steps; tests give their own to exercise migrations. */
  readonly migrations?: readonly Migration[];
  /** Runs on each new connection; tests use it to imitate a full disk. */
  readonly onConnect?: (db: DatabaseSync) => void;
}

/** After a failed open, how long calls fail fast before the file is tried again. */
const REOPEN_AFTER_MS = 1_000;

type Statements = ReturnType<typeof prepare>;

function prepare(db: DatabaseSync) {
  const statement = (sql: string): StatementSync => db.prepare(sql);
  return {
    getToken: statement('SELECT value FROM tokens WHERE key = $key AND expires_at > $now'),
    poll: statement(
      'SELECT (SELECT value FROM tokens WHERE key = $key AND expires_at > $now) AS value, ' +
        'EXISTS (SELECT 1 FROM locks WHERE key = $key AND expires_at > $now) AS locked',
    ),
    setToken: statement(
      'INSERT INTO tokens (key, value, fp, expires_at) VALUES ($key, $value, $fp, $expiresAt) ' +
        'ON CONFLICT (key) DO UPDATE SET value = excluded.value, fp = excluded.fp, expires_at = excluded.expires_at',
    ),
    purgeTokens: statement('DELETE FROM tokens WHERE expires_at <= $now'),
    deleteToken: statement('DELETE FROM tokens WHERE key = $key'),
    deleteTokenIf: statement('DELETE FROM tokens WHERE key = $key AND fp = $fp'),
    listTokens: statement('SELECT key, value, expires_at AS expiresAt FROM tokens WHERE expires_at > $now ORDER BY key'),
    clearTokens: statement('DELETE FROM tokens WHERE substr(key, 1, length($prefix)) = $prefix'),
    // Taken when free or expired: the expiry is the only way a dead holder ever lets go.
    acquireLock: statement(
      'INSERT INTO locks (key, owner, expires_at) VALUES ($key, $owner, $expiresAt) ' +
        'ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at WHERE locks.expires_at <= $now',
    ),
    releaseLock: statement('DELETE FROM locks WHERE key = $key AND owner = $owner'),
    extendLock: statement('UPDATE locks SET expires_at = $expiresAt WHERE key = $key AND owner = $owner AND expires_at > $now'),
    pruneLedger: statement('DELETE FROM ledger WHERE key = $key AND at <= $cutoff'),
    countLedger: statement('SELECT count(*) AS n, min(at) AS oldest FROM ledger WHERE key = $key'),
    addReservation: statement('INSERT INTO ledger (key, reservation, at) VALUES ($key, $reservation, $at)'),
    releaseReservation: statement('DELETE FROM ledger WHERE key = $key AND reservation = $reservation'),
    confirmReservation: statement('UPDATE ledger SET at = max(at, $at) WHERE key = $key AND reservation = $reservation'),
  };
}

/** The SQLite store. Create it with `sqliteStore()` from `tokenbroker/sqlite`. */
export class SqliteStore implements SqliteTokenStore {
  readonly shared = true as const;
  readonly ledger: IssuanceLedger;
  readonly callBudget: CallBudget;
  readonly #settings: SqliteSettings;
  readonly #codec: TokenCodec;
  readonly #waits: TokenWaits;
  readonly #warnings: StoreWarnings;
  #db: DatabaseSync | undefined;
  #statements: Statements | undefined;
  /** The inode of the file this connection has open: the path must still lead to it. */
  #inode: number | undefined;
  #failure: TokenFileError | undefined;
  #failedAt = 0;
  #closed = false;

  constructor(settings: SqliteSettings) {
    this.#settings = settings;
    this.#codec = new TokenCodec(settings.keys);
    this.#waits = new TokenWaits(settings.pollIntervalMs);
    this.#warnings = new StoreWarnings('sqlite', settings.logger);
    this.ledger = new SqliteLedger((op) => this.#write(op));
    this.callBudget = new SqliteCallBudget((op) => this.#write(() => op(this.#db!)));
    try {
      this.#open();
    } catch {
      // Kept in #failure: every call fails with it (the manager falls back to memory) until the file opens.
    }
  }

  async get(key: string): Promise<Token | undefined> {
    const row = this.#read((s) => s.getToken.get({ key, now: Date.now() })) as { value: string } | undefined;
    return row === undefined ? undefined : this.#decode(key, row.value);
  }

  async set(key: string, token: Token, ttlMs: number): Promise<void> {
    const value = this.#codec.encode(key, token);
    this.#write((s) => {
      const now = Date.now();
      // Expired tokens of every credential go with each write: the file stays the size of the live set.
      s.purgeTokens.run({ now });
      s.setToken.run({ key, value, fp: fingerprint(token.accessToken), expiresAt: now + Math.max(1, Math.ceil(ttlMs)) });
    });
  }

  async delete(key: string, accessToken?: string): Promise<void> {
    this.#write((s) => (accessToken === undefined ? s.deleteToken.run({ key }) : s.deleteTokenIf.run({ key, fp: fingerprint(accessToken) })));
  }

  async acquireLock(key: string, ttlMs: number): Promise<string | undefined> {
    const owner = randomBytes(16).toString('base64url');
    const taken = this.#write((s) => {
      const now = Date.now();
      return Number(s.acquireLock.run({ key, owner, now, expiresAt: now + Math.max(1, Math.ceil(ttlMs)) }).changes) === 1;
    });
    return taken ? owner : undefined;
  }

  async releaseLock(key: string, owner: string): Promise<void> {
    this.#write((s) => s.releaseLock.run({ key, owner }));
  }

  async extendLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.#write((s) => {
      const now = Date.now();
      return Number(s.extendLock.run({ key, owner, now, expiresAt: now + Math.max(1, Math.ceil(ttlMs)) }).changes) === 1;
    });
  }

  /**
   * Waits for another process's token by the stores' one wait protocol (`../wait.ts`). SQLite has no
   * notifications: it supplies the look (the token and the lock row in one statement) and the protocol
   * polls it every `pollIntervalMs`. A file failure rejects (the manager falls back).
   */
  async waitForToken(key: string, timeoutMs: number, signal: AbortSignal): Promise<Token | undefined> {
    return this.#waits.wait(
      {
        look: () => {
          const row = this.#read((s) => s.poll.get({ key, now: Date.now() })) as { value: string | null; locked: number };
          return { raw: row.value ?? undefined, locked: row.locked !== 0 };
        },
        decode: (raw) => this.#decode(key, raw),
      },
      timeoutMs,
      signal,
    );
  }

  async entries(): Promise<StoredTokenEntry[]> {
    const rows = this.#read((s) => s.listTokens.all({ now: Date.now() })) as Array<{ key: string; value: string; expiresAt: number }>;
    return rows.map((row) => ({ key: row.key, token: this.#decode(row.key, row.value), storedUntil: Number(row.expiresAt) }));
  }

  async clear(keyPrefix = ''): Promise<number> {
    return this.#write((s) => {
      s.purgeTokens.run({ now: Date.now() }); // so the count is of tokens that were still in use
      return Number(s.clearTokens.run({ prefix: keyPrefix }).changes);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#waits.close();
    this.#disconnect();
  }

  #disconnect(): void {
    const db = this.#db;
    this.#db = undefined;
    this.#statements = undefined;
    try {
      db?.close();
    } catch {
      // Already closed.
    }
  }

  /** One read, outside any transaction: WAL gives it a consistent snapshot without waiting for writers. */
  #read<T>(op: (statements: Statements) => T): T {
    const statements = this.#ready();
    try {
      return op(statements);
    } catch (error) {
      throw fileError(this.#settings.file, error);
    }
  }

  /** One write transaction: BEGIN IMMEDIATE takes the file's write lock first, so nothing interleaves. */
  #write<T>(op: (statements: Statements) => T): T {
    const statements = this.#ready();
    const db = this.#db!;
    try {
      db.exec('BEGIN IMMEDIATE');
      const result = op(statements);
      db.exec('COMMIT');
      return result;
    } catch (error) {
      rollback(db);
      throw fileError(this.#settings.file, error);
    }
  }

  #ready(): Statements {
    if (this.#closed) throw new TokenFileError('the SQLite store is closed');
    if (this.#statements !== undefined) {
      // A file deleted or replaced under an open connection would part this process from the others,
      // which open the path anew: follow the path instead. A stat costs a microsecond, on the cold path only.
      if (inodeOf(this.#settings.file) === this.#inode) return this.#statements;
      this.#disconnect();
    }
    if (this.#failure !== undefined && Date.now() - this.#failedAt < REOPEN_AFTER_MS) throw this.#failure;
    return this.#open();
  }

  #open(): Statements {
    try {
      const db = openDatabase(this.#settings.file, {
        busyTimeoutMs: this.#settings.busyTimeoutMs,
        migrations: this.#settings.migrations ?? MIGRATIONS,
        warn: (object, message) => this.#warnings.warn(object, message),
      });
      this.#settings.onConnect?.(db);
      this.#db = db;
      this.#inode = inodeOf(this.#settings.file);
      this.#statements = prepare(db);
      this.#failure = undefined;
      return this.#statements;
    } catch (error) {
      this.#failure = fileError(this.#settings.file, error);
      this.#failedAt = Date.now();
      throw this.#failure;
    }
  }

  #decode(key: string, raw: string): Token | undefined {
    return this.#warnings.decode(this.#codec, key, raw);
  }

  /** The public shape only: no key, no token. */
  #describe(): Record<string, unknown> {
    return { kind: 'sqlite', path: this.#settings.file, encrypted: this.#codec.encrypted, open: this.#db !== undefined, closed: this.#closed };
  }

  [inspect.custom](): string {
    return `SqliteTokenStore ${inspect(this.#describe())}`;
  }

  toJSON(): unknown {
    return this.#describe();
  }
}

type Writer = <T>(op: (statements: Statements) => T) => T;

/** The issuance ledger in the `ledger` table: every process on the host, and it outlives them all. */
class SqliteLedger implements IssuanceLedger {
  readonly #write: Writer;

  constructor(write: Writer) {
    this.#write = write;
  }

  async reserve(key: string, now: number, limit: number, windowMs: number): Promise<LedgerDecision> {
    const reservation = randomBytes(12).toString('base64url');
    return this.#write((s): LedgerDecision => {
      s.pruneLedger.run({ key, cutoff: Math.floor(now) - Math.ceil(windowMs) });
      const { n, oldest } = s.countLedger.get({ key }) as { n: number; oldest: number | null };
      if (Number(n) >= limit) {
        return { allowed: false, retryAfterMs: Math.max(1, Number(oldest) + Math.ceil(windowMs) - Math.floor(now)) };
      }
      s.addReservation.run({ key, reservation, at: Math.floor(now) });
      return { allowed: true, reservation };
    });
  }

  async release(key: string, reservation: string): Promise<void> {
    this.#write((s) => s.releaseReservation.run({ key, reservation }));
  }

  async confirm(key: string, reservation: string, now: number): Promise<void> {
    this.#write((s) => s.confirmReservation.run({ key, reservation, at: Math.floor(now) }));
  }

  [inspect.custom](): string {
    return 'SqliteLedger';
  }

  toJSON(): unknown {
    return { kind: 'sqlite-ledger' };
  }
}
