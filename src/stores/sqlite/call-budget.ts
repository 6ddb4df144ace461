/**
 * The call budget in the SQLite file: every process of the host paces one credential's API calls
 * together, by this host's wall clock (the same for every process that opens the file). The algorithm
 * is the one of `../call-budget.ts`, in SQL, each operation one `BEGIN IMMEDIATE` transaction.
 *
 * Written by hand: no limiter library we know of stores its state in `node:sqlite` (rate-limiter-flexible
 * speaks to `sqlite3`/`better-sqlite3` drivers, with fixed windows).
 *
 * The tables are created on first use (`CREATE TABLE IF NOT EXISTS`), not by a schema migration: a file
 * stays readable by a tokenbroker that predates pacing (it refuses newer schema versions), so a host
 * can upgrade one process at a time.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { inspect } from 'node:util';
import type { CallBudget, RateLimit } from '../call-budget.js';

/** Runs `op` inside one write transaction of the store's connection (the store's `#write`). */
export type DatabaseWriter = <T>(op: (db: DatabaseSync) => T) => T;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS call_log (
    key TEXT NOT NULL,
    id TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (key, id)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS call_log_at ON call_log (key, at);
  CREATE TABLE IF NOT EXISTS call_pause (
    key TEXT PRIMARY KEY,
    until INTEGER NOT NULL
  ) WITHOUT ROWID;
`;

function prepare(db: DatabaseSync) {
  db.exec(SCHEMA);
  const statement = (sql: string): StatementSync => db.prepare(sql);
  return {
    prune: statement('DELETE FROM call_log WHERE key = $key AND at <= $cutoff'),
    find: statement('SELECT at FROM call_log WHERE key = $key AND id = $id'),
    remove: statement('DELETE FROM call_log WHERE key = $key AND id = $id'),
    // The `requests`-th latest entry among those ahead (at or before `upTo`): the one the window is measured from.
    kthLatest: statement('SELECT at FROM call_log WHERE key = $key AND at <= $upTo ORDER BY at DESC LIMIT 1 OFFSET $offset'),
    pausedUntil: statement('SELECT until FROM call_pause WHERE key = $key'),
    add: statement('INSERT INTO call_log (key, id, at) VALUES ($key, $id, $at)'),
    confirm: statement('UPDATE call_log SET at = max(at, $now) WHERE key = $key AND id = $id'),
    pause: statement('INSERT INTO call_pause (key, until) VALUES ($key, $until) ON CONFLICT (key) DO UPDATE SET until = max(until, excluded.until)'),
    purgePauses: statement('DELETE FROM call_pause WHERE until <= $now'),
  };
}

type Statements = ReturnType<typeof prepare>;

/** The {@link CallBudget} of the SQLite store. */
export class SqliteCallBudget implements CallBudget {
  readonly #write: DatabaseWriter;
  // Per connection: the store reopens the file when it is replaced, and the statements go with it.
  readonly #statements = new WeakMap<DatabaseSync, Statements>();

  constructor(write: DatabaseWriter) {
    this.#write = write;
  }

  async reserve(key: string, id: string, limit: RateLimit, maxWaitMs: number): Promise<number> {
    return this.#run((s) => {
      const now = Date.now();
      s.prune.run({ key, cutoff: now - limit.perMs });
      const mine = s.find.get({ key, id }) as { at: number } | undefined;
      if (mine !== undefined) s.remove.run({ key, id });
      const upTo = mine === undefined ? Number.MAX_SAFE_INTEGER : Number(mine.at);
      const kth = s.kthLatest.get({ key, upTo, offset: limit.requests - 1 }) as { at: number } | undefined;
      const paused = s.pausedUntil.get({ key }) as { until: number } | undefined;
      let at = Math.max(now, paused === undefined ? 0 : Number(paused.until));
      if (kth !== undefined) at = Math.max(at, Number(kth.at) + limit.perMs);
      const wait = at - now;
      if (wait > maxWaitMs) return -wait;
      s.add.run({ key, id, at });
      return wait;
    });
  }

  async confirm(key: string, id: string): Promise<void> {
    this.#run((s) => s.confirm.run({ key, id, now: Date.now() }));
  }

  async release(key: string, id: string): Promise<void> {
    this.#run((s) => s.remove.run({ key, id }));
  }

  async pause(key: string, pauseMs: number): Promise<void> {
    this.#run((s) => {
      const now = Date.now();
      s.purgePauses.run({ now });
      s.pause.run({ key, until: now + Math.max(0, Math.ceil(pauseMs)) });
    });
  }

  #run<T>(op: (statements: Statements) => T): T {
    return this.#write((db) => {
      let statements = this.#statements.get(db);
      if (statements === undefined) this.#statements.set(db, (statements = prepare(db)));
      return op(statements);
    });
  }

  [inspect.custom](): string {
    return 'SqliteCallBudget';
  }

  toJSON(): unknown {
    return { kind: 'sqlite-call-budget' };
  }
}
