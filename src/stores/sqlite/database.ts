/**
 * Opening the token file (`node:sqlite` is loaded by runtime.ts): the file's and directory's permissions,
 * WAL, the schema version and its migrations, and what to do with a file that is not a token file.
 *
 * What cannot be opened is reported as a {@link TokenFileError}, never a {@link ConfigError}: the
 * store's calls then fail, and the manager falls back to this process's memory (with a warning) until
 * the file works again. Only permissions that expose tokens to other users are a ConfigError, thrown
 * by `sqliteStore()` itself, because the fix is the user's to make.
 */
import { closeSync, mkdirSync, openSync, renameSync, rmSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DatabaseSync } from 'node:sqlite';
import { ConfigError } from '../../base/errors.js';
import { loadSqlite, type SqliteModule } from './runtime.js';

/** A token file that cannot be used now; the message says why and what to do, never a token. */
export class TokenFileError extends Error {
  override readonly name = 'TokenFileError';
}

/** `PRAGMA application_id` of a token file: "tkbr". A file with another id belongs to someone else. */
export const APPLICATION_ID = 0x746b6272;

/** One step of the schema: from version `index` to `index + 1`, run inside the opening transaction. */
export type Migration = (db: DatabaseSync) => void;

/**
 * The schema, one migration per version (`PRAGMA user_version`). Append only: a released step never
 * changes, a change is a new step.
 */
export const MIGRATIONS: readonly Migration[] = [
  // 1: tokens with their expiry, the lock per credential (owner + expiry), the issuance ledger.
  (db) =>
    db.exec(`
      PRAGMA application_id = ${APPLICATION_ID};
      CREATE TABLE tokens (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        fp TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE locks (
        key TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE ledger (
        key TEXT NOT NULL,
        reservation TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (key, reservation)
      ) WITHOUT ROWID;
    `),
];

/**
 * Creates the file's directory (0700) when missing, and refuses a file or directory that other users
 * can open: the file holds access tokens. Permission bits mean nothing on Windows, so it checks there
 * nothing. Problems that keep the file from opening (a read-only directory) are left to the opening.
 * @returns the absolute path of the file.
 * @throws {@link ConfigError} naming the `chmod` that fixes it.
 */
export function prepareLocation(path: string): string {
  const file = resolve(path);
  const dir = dirname(file);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch {
    // Reported when the file is opened (read-only file system, no permission).
  }
  if (process.platform === 'win32') return file;
  const issues: Array<{ path: string; message: string }> = [];
  const dirStat = statOrUndefined(dir);
  if (dirStat?.isDirectory() === true && (dirStat.mode & 0o077) !== 0) {
    issues.push({
      path: 'sqliteStore.path',
      message: `the directory ${dir} is open to other users (mode ${octal(dirStat.mode)}); run \`chmod 700 ${dir}\` or keep the file in a directory only you can open`,
    });
  }
  const fileStat = statOrUndefined(file);
  if (fileStat?.isFile() === true && (fileStat.mode & 0o077) !== 0) {
    issues.push({
      path: 'sqliteStore.path',
      message: `the file ${file} is open to other users (mode ${octal(fileStat.mode)}); run \`chmod 600 ${file}\``,
    });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return file;
}

/** What opening needs besides the path. */
export interface OpenSettings {
  readonly busyTimeoutMs: number;
  readonly migrations: readonly Migration[];
  /** Told once when a corrupt file was moved aside. */
  readonly warn: (object: Record<string, unknown>, message: string) => void;
}

/**
 * Opens `file` as a token file at the current schema: creates it (0600) when missing, moves a file
 * that is not a database aside and starts a fresh one, migrates an older schema, refuses a newer one
 * or another program's database.
 * @throws {@link TokenFileError} when the file cannot be used.
 */
export function openDatabase(file: string, settings: OpenSettings): DatabaseSync {
  const sqlite = loadSqlite();
  let opened = openAndReadHeader(sqlite, file, settings);
  if (opened.header === undefined) {
    replaceUnreadable(file, opened.inode, settings);
    opened = openAndReadHeader(sqlite, file, settings);
    if (opened.header === undefined) throw fileError(file, opened.error);
  }
  const { db, header } = opened;
  try {
    checkHeader(file, header, settings.migrations.length);
    // WAL: readers never wait for the writer. Where it cannot be had (no shared memory on some network
    // file systems) SQLite keeps its rollback journal, which is slower but just as correct.
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
    if (header.userVersion < settings.migrations.length) migrate(db, file, settings.migrations);
    db.exec(`PRAGMA busy_timeout = ${Math.floor(settings.busyTimeoutMs)}`);
    return db;
  } catch (error) {
    db.close();
    throw error instanceof TokenFileError ? error : fileError(file, error);
  }
}

interface Header {
  readonly applicationId: number;
  readonly userVersion: number;
  readonly objects: number;
}

/** An opened file with its header, or the reason it is not a database; with the inode the path held. */
type Opened =
  | { readonly db: DatabaseSync; readonly header: Header; readonly inode: number | undefined }
  | { readonly header: undefined; readonly error: unknown; readonly inode: number | undefined };

/**
 * Opens the file (created 0600 when missing) and reads its header, with the inode the path held all the
 * while. Another process may replace the file in between (moving a corrupt one aside): the handle would
 * then read the old file while the inode named the new one, and a corrupt old file would get the new one
 * moved aside. So when the path changed, the file is opened again (three times at most).
 */
function openAndReadHeader(sqlite: SqliteModule, file: string, settings: OpenSettings): Opened {
  for (let attempt = 1; ; attempt++) {
    createPrivateFile(file);
    const inode = inodeOf(file);
    let db: DatabaseSync;
    try {
      db = connect(sqlite, file, settings);
    } catch (error) {
      // Gone between its creation and the open: another process is replacing it. Create it again.
      if (primaryCode(error) === SQLITE_CANTOPEN && attempt < 3) continue;
      throw fileError(file, error);
    }
    let opened: Opened;
    try {
      opened = { db, header: readHeaderSnapshot(db), inode };
    } catch (error) {
      db.close();
      if (!isNotADatabase(error)) throw fileError(file, error);
      opened = { header: undefined, error, inode };
    }
    if (inodeOf(file) === inode || attempt === 3) return opened;
    if (opened.header !== undefined) opened.db.close();
  }
}

const SQLITE_CANTOPEN = 14;

/** How long opening waits for another process that holds the file (setting it up), at least. */
const OPEN_BUSY_TIMEOUT_MS = 5_000;

/**
 * A connection to the existing file, never creating one: SQLite would create it with the umask's mode
 * (0644, open to other users), where `createPrivateFile` makes it 0600. The file can vanish between the
 * two when another process moves a corrupt one aside. A `file:` URL with `mode=rw` says so to SQLite;
 * Node before 22.15 takes no URL, and there the path is passed as it is.
 */
function connect(sqlite: SqliteModule, file: string, settings: OpenSettings): DatabaseSync {
  const url = pathToFileURL(file);
  url.searchParams.set('mode', 'rw');
  let db: DatabaseSync;
  try {
    db = new sqlite.DatabaseSync(url);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_INVALID_ARG_TYPE') throw error;
    db = new sqlite.DatabaseSync(file);
  }
  // Every wait for another process's write is bounded: past it, the call fails and the manager falls back.
  // Opening waits longer than a call (openDatabase sets the call's bound once the file is ready): processes
  // that start together on a new file each set it up in turn, and on a loaded host one may hold it for
  // seconds; giving up then would send this process's manager to the provider for a token of its own.
  db.exec(`PRAGMA busy_timeout = ${Math.floor(Math.max(settings.busyTimeoutMs, OPEN_BUSY_TIMEOUT_MS))}`);
  return db;
}

/** Creates an empty file readable by its owner only, before SQLite would create one with the umask's mode. */
function createPrivateFile(file: string): void {
  try {
    closeSync(openSync(file, 'a', 0o600));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const hint = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? ' (a read-only directory or file system?)' : '';
    throw new TokenFileError(`token file ${file}: cannot create or open it: ${code ?? 'error'}${hint}`);
  }
}

/**
 * The header as of one moment. Its three reads are one read transaction: read one by one, a process
 * creating the file at the same time could commit its first migration between them, and this one would
 * see the application id of the empty file with the tables of the new one — another program's database.
 */
function readHeaderSnapshot(db: DatabaseSync): Header {
  db.exec('BEGIN');
  try {
    const header = readHeader(db);
    db.exec('COMMIT');
    return header;
  } catch (error) {
    rollback(db);
    throw error;
  }
}

/** The header, read within a transaction the caller holds. */
function readHeader(db: DatabaseSync): Header {
  const applicationId = Number((db.prepare('PRAGMA application_id').get() as { application_id: number }).application_id);
  const userVersion = Number((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version);
  const objects = Number((db.prepare('SELECT count(*) AS n FROM sqlite_master').get() as { n: number }).n);
  return { applicationId, userVersion, objects };
}

function checkHeader(file: string, header: Header, known: number): void {
  const empty = header.applicationId === 0 && header.userVersion === 0 && header.objects === 0;
  if (!empty && header.applicationId !== APPLICATION_ID) {
    throw new TokenFileError(
      `token file ${file}: it is another program's SQLite database, not a tokenbroker token file; it is left untouched: point path at another file`,
    );
  }
  if (header.userVersion > known) {
    throw new TokenFileError(
      `token file ${file}: it was written by a newer tokenbroker (schema ${header.userVersion}; this one knows up to ${known}); it is left untouched: upgrade tokenbroker, or point path at another file`,
    );
  }
}

/** Brings the schema up to date in one transaction; another process may have done it first. */
function migrate(db: DatabaseSync, file: string, migrations: readonly Migration[]): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    const header = readHeader(db);
    checkHeader(file, header, migrations.length);
    for (let version = header.userVersion; version < migrations.length; version++) migrations[version]!(db);
    db.exec(`PRAGMA user_version = ${migrations.length}`);
    db.exec('COMMIT');
  } catch (error) {
    rollback(db);
    throw error;
  }
}

/** Rolls back an open transaction, if any (a failed COMMIT may already have ended it). */
export function rollback(db: DatabaseSync): void {
  try {
    db.exec('ROLLBACK');
  } catch {
    // No transaction was open.
  }
}

/** Past this age a recovery lock is taken for the leftover of a process that died while holding it. */
const STALE_RECOVERY_MS = 5_000;

/**
 * Moves the unreadable file that was opened as inode `opened` aside and creates a fresh one, one process
 * at a time. The check that the path still holds that file and the rename must be one step: a process
 * that checked just before another finished its own recovery would otherwise rename the other's fresh
 * file, and the two would go on with different files — two tokens for one credential (the SQLite fleet
 * test with processes finding the file corrupt at once saw it). The lock is a directory beside the file,
 * since `mkdir` either creates it or fails, and SQLite cannot lock a file that is not a database. A process that finds the path already
 * replaced leaves it alone: another process's fresh file is the one to share.
 */
function replaceUnreadable(file: string, opened: number | undefined, settings: OpenSettings): void {
  const lock = `${file}.recovering`;
  const deadline = Date.now() + Math.max(settings.busyTimeoutMs, 1_000);
  for (;;) {
    try {
      mkdirSync(lock, { mode: 0o700 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw fileError(file, error);
      const age = Date.now() - (statOrUndefined(lock)?.mtimeMs ?? Date.now());
      if (age > STALE_RECOVERY_MS) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() >= deadline) throw new TokenFileError(`token file ${file}: another process is still replacing it (${lock})`);
      // Opening is synchronous (sqliteStore() is): wait without spinning, for a recovery that takes milliseconds.
      else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
  try {
    if (opened !== undefined && inodeOf(file) === opened) {
      const aside = moveAside(file);
      settings.warn(
        { file, movedTo: aside },
        'the token file was not a readable SQLite database (corrupt, or not one); moved it aside and started a fresh one',
      );
    }
    createPrivateFile(file);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Renames an unreadable file (and its WAL) to `<file>.corrupt-<time>`: nothing is deleted, and the
 * next open starts a fresh file. (Its shared-memory index is only a cache of the WAL: it is removed.)
 */
function moveAside(file: string): string {
  const aside = `${file}.corrupt-${Date.now()}`;
  try {
    renameSync(file, aside);
    rmSync(`${file}-shm`, { force: true });
    try {
      renameSync(`${file}-wal`, `${aside}-wal`);
    } catch {
      // No WAL.
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw fileError(file, error);
  }
  return aside;
}

/** SQLITE_NOTADB or SQLITE_CORRUPT: the bytes are not a database. */
function isNotADatabase(error: unknown): boolean {
  const code = primaryCode(error);
  return code === 26 || code === 11;
}

function primaryCode(error: unknown): number | undefined {
  const errcode = (error as { errcode?: unknown } | null)?.errcode;
  return typeof errcode === 'number' ? errcode & 0xff : undefined;
}

const REASONS: Record<number, string> = {
  5: 'it stayed busy (locked by another process) for longer than busyTimeoutMs',
  8: 'it or its directory is read-only',
  10: 'a disk I/O error',
  11: 'it is corrupt',
  13: 'the disk (or the file) is full',
  14: 'it cannot be opened (a read-only or missing directory?)',
  23: 'permission denied',
  26: 'it is not a database',
};

/** A SQLite failure as a {@link TokenFileError}: the file, the reason in words, SQLite's own text. */
export function fileError(file: string, error: unknown): TokenFileError {
  if (error instanceof TokenFileError) return error;
  const code = primaryCode(error);
  const detail = (error as { errstr?: unknown; message?: unknown } | null)?.message;
  const reason = code === undefined ? undefined : REASONS[code];
  const text = [reason, typeof detail === 'string' ? detail : String(error)].filter((part) => part !== undefined).join(': ');
  return new TokenFileError(`token file ${file}: ${text}`, { cause: { code } });
}

/** The file's inode number, or undefined when it is not there. */
export function inodeOf(path: string): number | undefined {
  return statOrUndefined(path)?.ino;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}
