/**
 * `tokenbroker/sqlite`: the embedded shared store. One SQLite file (Node's built-in `node:sqlite`, no
 * native addon) holds the tokens, the lock per credential and the issuance ledger, so every process
 * of one host — cluster workers, a command run again and again, a service that restarts — shares one
 * token per credential. See docs/sqlite.md.
 */
import { z } from 'zod';
import type { Logger } from '../../base/logger.js';
import { durationMs, functionSchema, parseOptions } from '../../base/validate.js';
import { encryptionKeySchema } from '../codec.js';
import { prepareLocation } from './database.js';
import { requireSqliteRuntime } from './runtime.js';
import { SqliteStore, type SqliteTokenStore } from './store.js';

export type { SqliteTokenStore, StoredTokenEntry } from './store.js';

/** Options of {@link sqliteStore}. */
export interface SqliteStoreOptions {
  /**
   * The file, created when missing (mode 0600, in a directory created 0700). A file or directory that
   * other users can open is refused with a ConfigError naming the `chmod` that fixes it.
   */
  readonly path: string;
  /**
   * Encrypts tokens at rest with AES-256-GCM, as the Redis store does. Base64 32-byte keys (`openssl
   * rand -base64 32`): the first encrypts, all decrypt, so a new key goes first and an old one is
   * removed once its tokens have expired. A value no key can decrypt counts as a miss (one warning,
   * and a fresh token replaces it), never a crash.
   */
  readonly encryptionKeys?: readonly string[];
  /** While another process fetches the token, how often this one looks for it (default 50 ms). */
  readonly pollIntervalMs?: number;
  /**
   * Longest wait for another process's write to finish before a call fails and the manager falls
   * back to this process's memory (default 1 000 ms). Writes take microseconds; a long wait means a
   * stuck process or a very slow disk.
   */
  readonly busyTimeoutMs?: number;
  /** Receives one warning per kind of unreadable stored value, and when a corrupt file is moved aside. */
  readonly logger?: Pick<Logger, 'warn'>;
}

const optionsSchema = z.strictObject({
  path: z.string().min(1),
  encryptionKeys: z.array(encryptionKeySchema).min(1).optional(),
  pollIntervalMs: durationMs().min(10).max(60_000).optional(),
  busyTimeoutMs: durationMs().max(60_000).optional(),
  logger: z.looseObject({ warn: functionSchema() }).optional(),
});

/**
 * A store shared through one SQLite file: one token request per credential per token lifetime for
 * every process on the host that opens the same file, a lock per credential across those processes
 * (a holder killed mid-request is replaced once its lock expires), and an issuance budget that
 * survives restarts. `node:sqlite` is loaded only when this is called; a Node.js without it (older than
 * 22.13) is refused with a `ConfigError`.
 *
 * A file that cannot be used (corrupt, another program's, from a newer tokenbroker, on a read-only
 * or full disk) never breaks token delivery: a corrupt file is moved aside and a fresh one started;
 * otherwise calls fail and the token manager keeps tokens in this process's memory, with a warning,
 * until the file works again.
 *
 * @example
 * ```ts
 * import { createTokenManager } from 'tokenbroker';
 * import { sqliteStore } from 'tokenbroker/sqlite';
 *
 * const tokens = createTokenManager({
 *   providers,
 *   store: sqliteStore({ path: '/var/lib/my-app/tokens.sqlite' }),
 * });
 * ```
 * @throws `ConfigError` (from `tokenbroker`) for invalid options, for a file or directory other users can open,
 * and on a Node.js without `node:sqlite` (older than 22.13): never a silent fallback to memory.
 */
export function sqliteStore(options: SqliteStoreOptions): SqliteTokenStore {
  const parsed = parseOptions(optionsSchema, options, 'sqliteStore');
  requireSqliteRuntime();
  const file = prepareLocation(parsed.path);
  return new SqliteStore({
    file,
    keys: (parsed.encryptionKeys ?? []).map((key) => Buffer.from(key, 'base64')),
    pollIntervalMs: parsed.pollIntervalMs ?? 50,
    busyTimeoutMs: parsed.busyTimeoutMs ?? 1_000,
    logger: options.logger,
  });
}
