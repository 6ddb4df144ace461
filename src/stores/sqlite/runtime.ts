/**
 * Which Node.js runs the SQLite store, and loading `node:sqlite`: on first use, so that importing
 * tokenbroker never loads it, and refused with a ConfigError on a Node.js that lacks it.
 */
import type * as NodeSqlite from 'node:sqlite';
import { ConfigError } from '../../base/errors.js';

/** The `node:sqlite` module. */
export type SqliteModule = typeof NodeSqlite;

let sqliteModule: SqliteModule | undefined;

/** The oldest Node.js the SQLite store runs on, as `engines` in package.json says: `node:sqlite` without a flag. */
export const MIN_NODE_VERSION = '22.13';

/** Whether `version` (`v22.13.0`) is {@link MIN_NODE_VERSION} or newer. */
export function isSupportedNode(version: string = process.version): boolean {
  const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number);
  const [needMajor, needMinor] = MIN_NODE_VERSION.split('.').map(Number) as [number, number];
  return major > needMajor || (major === needMajor && minor >= needMinor);
}

/**
 * Refuses a Node.js that cannot run the SQLite store, before anything is created: older than
 * {@link MIN_NODE_VERSION}, or without `node:sqlite` (Node 23.0–23.3 keep it behind a flag). A store
 * the user configured must work or fail loudly; falling back to this process's memory would quietly
 * cost a token per process and per restart — the very thing the store is for.
 * @param version the Node.js version to judge (`process.version`; tests pass others).
 * @throws {@link ConfigError} naming the Node.js version needed and the one running.
 */
export function requireSqliteRuntime(version: string = process.version, load: () => SqliteModule = loadSqlite): void {
  const tooOld = !isSupportedNode(version);
  let available = !tooOld;
  if (available) {
    try {
      load();
    } catch {
      available = false;
    }
  }
  if (available) return;
  throw new ConfigError([
    {
      path: 'sqliteStore',
      message: tooOld
        ? `the SQLite store needs Node.js ${MIN_NODE_VERSION} or newer (for node:sqlite); this is Node.js ${version}: upgrade Node.js`
        : `the SQLite store needs node:sqlite, which this Node.js ${version} does not provide without a flag: use Node.js ${MIN_NODE_VERSION} or newer (23.4 or newer on Node 23)`,
    },
  ]);
}

/**
 * `node:sqlite`, loaded on first use so that importing tokenbroker never loads it. Node 22 marks it
 * experimental and warns once per process on load; that one warning (and no other) is not passed on,
 * since the user chose this store and tokenbroker's tests cover the Node versions it supports.
 */
export function loadSqlite(): SqliteModule {
  if (sqliteModule !== undefined) return sqliteModule;
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]): void {
    const message = typeof warning === 'string' ? warning : warning.message;
    const first = rest[0];
    const type = typeof first === 'string' ? first : ((first as { type?: unknown } | undefined)?.type ?? (warning instanceof Error ? warning.name : undefined));
    if (type === 'ExperimentalWarning' && message.startsWith('SQLite is an experimental feature')) return;
    (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  let loaded: SqliteModule | undefined;
  try {
    loaded = process.getBuiltinModule('node:sqlite') as SqliteModule | undefined;
  } catch {
    loaded = undefined;
  } finally {
    process.emitWarning = emitWarning;
  }
  if (loaded === undefined) throw new Error(`node:sqlite is not available in Node.js ${process.version}; sqliteStore needs Node.js 22.13 or newer`);
  sqliteModule = loaded;
  return loaded;
}
