/**
 * The command's per-user token cache: a SQLite store at {@link tokenCachePath}. Loaded only by the
 * commands that use it. A cache that cannot be used costs this run its reuse, never its token: one
 * warning line, and the run goes on without it.
 */
import { existsSync } from 'node:fs';
import { ConfigError } from '../../base/errors.js';
import { isSupportedNode, MIN_NODE_VERSION, requireSqliteRuntime } from '../../stores/sqlite/runtime.js';
import { sqliteStore, type SqliteTokenStore } from '../../stores/sqlite/index.js';
import { tokenCachePath } from './cache-path.js';
import { type CliIo, writeLine } from './context.js';

/** Where the cache is, and the store on it (undefined when it is unusable, or absent and not to be created). */
export interface OpenedCache {
  readonly path: string;
  readonly store: SqliteTokenStore | undefined;
}

/**
 * Opens the cache. With `create: false` a missing file stays missing (listing or clearing nothing
 * needs no file).
 * @throws {@link ConfigError} when the file or its directory is open to other users (the fix is named).
 */
export async function openTokenCache(io: CliIo, options: { create: boolean }): Promise<OpenedCache> {
  const path = tokenCachePath(io.env);
  if (!options.create && !existsSync(path)) return { path, store: undefined };
  const warn = (object: Record<string, unknown>, message: string) => {
    const movedTo = typeof object.movedTo === 'string' ? ` (moved to ${object.movedTo})` : '';
    writeLine(io.stderr, `tokenbroker: warning: token cache ${path}: ${message}${movedTo}`);
  };
  const store = sqliteStore({ path, logger: { warn } });
  try {
    await store.get('tokenbroker:probe'); // opens the file: a file that cannot be used says so now, once
  } catch (error) {
    writeLine(io.stderr, `tokenbroker: warning: the token cache is not usable, so this run does without it: ${(error as Error).message}`);
    await store.close();
    return { path, store: undefined };
  }
  return { path, store };
}

/**
 * Refuses, before anything else happens, a Node.js that cannot keep the cache: without it every run
 * would quietly ask the provider for a new token. `--no-cache` is the way to run without it knowingly.
 * @throws {@link ConfigError} naming the Node.js version needed, and `--no-cache`.
 */
export function requireTokenCacheRuntime(): void {
  try {
    requireSqliteRuntime();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(
      error.issues.map((issue) => ({
        path: 'token cache',
        message: `${issue.message}; or run with --no-cache (every run then requests a new token)`,
      })),
    );
  }
}

/** Whether this Node.js is older than tokenbroker supports (`engines`): `--no-cache` runs then say so. */
export function nodeTooOld(): boolean {
  return !isSupportedNode();
}

export { MIN_NODE_VERSION };
