/**
 * Issue 11, bad states: a corrupt file, another program's database, a newer schema, an older schema
 * (migrations), a full disk, a wrong encryption key, files other users can open. Each loses nothing,
 * crashes nothing, hangs nothing, and is said once. And the file's raw bytes: never the client
 * secret; with encryption keys, never a token.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alternativePayments, ConfigError, createTokenManager, type SharedTokenStore } from 'tokenbroker';
import { sqliteStore } from 'tokenbroker/sqlite';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { APPLICATION_ID, MIGRATIONS } from '../../src/stores/sqlite/database.js';
import { loadSqlite } from '../../src/stores/sqlite/runtime.js';
import { SqliteStore, type SqliteSettings } from '../../src/stores/sqlite/store.js';
import { fakeProvider, tokenBody } from '../helpers/fake-provider.js';
import { sampleToken } from '../stores/conformance.js';
import { recordingLogger, tempDirs } from './helpers.js';

const temp = tempDirs();
const SECRET = 'sqlite-secret-Qx7+/=kP';
const CLIENT_ID = 'sqlite-client';

function rawStore(file: string, extra: Partial<SqliteSettings> = {}): SqliteStore {
  return new SqliteStore({ file, keys: [], pollIntervalMs: 20, busyTimeoutMs: 1_000, logger: undefined, ...extra });
}

/** A manager on `store` with a logger; the fake provider counts token requests. */
function managerOn(store: SharedTokenStore, fake = fakeProvider()) {
  const logger = { ...recordingLogger(), debug() {}, info() {}, error() {} };
  const tokens = createTokenManager({ providers: { p: fake.provider }, store, logger, retry: { attempts: 1 } });
  return { tokens, fake, warnings: logger.warnings };
}

/** Another process: a script of test/helpers/fixtures under tsx, its stdout collected. */
function startFixture(script: string, args: readonly string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', `test/helpers/fixtures/${script}`, ...args], { cwd: process.cwd() });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return {
    exited,
    output: () => out,
    /** Resolves once the script has printed `word` (within 10 s). */
    async said(word: string): Promise<void> {
      for (let i = 0; i < 1000 && !out.includes(word); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(out).toContain(word);
    },
  };
}

/** Opens `file` with node:sqlite directly, as another program (or an older tokenbroker) would. */
function withDatabase(file: string, use: (db: DatabaseSync) => void): void {
  const db = new (loadSqlite().DatabaseSync)(file);
  try {
    use(db);
  } finally {
    db.close();
  }
}

describe('sqliteStore: files that are not (usable) token files', () => {
  it('a corrupt file is moved aside with one warning; a fresh file takes over and works', async () => {
    const file = temp.file();
    const garbage = Buffer.from(`${'not a database; '.repeat(300)}`);
    writeFileSync(file, garbage, { mode: 0o600 });
    const logger = recordingLogger();
    const store = sqliteStore({ path: file, logger });
    const { tokens, fake, warnings } = managerOn(store);
    try {
      const token = await tokens.getToken('p');
      expect(fake.calls()).toBe(1);
      expect(await store.get(fake.provider.cacheKey)).toEqual(token);
      expect(logger.warnings).toHaveLength(1);
      expect(logger.warnings[0]!.message).toMatch(/moved it aside and started a fresh one/);
      const aside = logger.warnings[0]!.object.movedTo as string;
      expect(readFileSync(aside)).toEqual(garbage); // nothing lost
      expect(warnings).toEqual([]); // the manager never saw a failure
    } finally {
      await tokens.close();
    }
  });

  it('a process that finds another one replacing a corrupt file waits for it, then shares its fresh file', async () => {
    // This test plays the other process: it holds the replacement lock (a directory beside the file)
    // while the child opens the corrupt file, then moves the file aside, starts a fresh one with a token,
    // and lets go. Without the lock the child replaced the file itself, and this process's rename, checked
    // before, then moved the child's fresh file aside: two files, two tokens (as the fleet
    // test of processes finding the file corrupt at once saw in CI).
    const file = temp.file();
    writeFileSync(file, Buffer.from('not a database; '.repeat(300)), { mode: 0o600 });
    const lock = `${file}.recovering`;
    mkdirSync(lock, { mode: 0o700 });
    const child = startFixture('sqlite-open.ts', [file]);
    await child.said('opening');
    await new Promise((resolve) => setTimeout(resolve, 300)); // the child is at the corrupt file now
    renameSync(file, `${file}.corrupt-by-test`);
    const fresh = sqliteStore({ path: file });
    const token = sampleToken();
    await fresh.set('k', token, 60_000);
    rmdirSync(lock);
    expect(await child.exited).toBe(0);
    expect(JSON.parse(child.output().trim().split('\n').pop()!)).toEqual({ token: token.accessToken });
    expect(readdirSync(dirname(file)).filter((name) => name.startsWith(`${basename(file)}.corrupt-`))).toEqual([`${basename(file)}.corrupt-by-test`]);
    await fresh.close();
  }, 30_000);

  it('opening waits longer than a call would for another process setting the file up (a fleet starting on a loaded host)', async () => {
    // Another process holds the new file locked for 2.5 s (it is migrating it, starved of CPU). A store
    // whose calls wait at most 1 s must still open it rather than fall back to its own memory: before,
    // the open gave up after busyTimeoutMs and the manager took a token of its own.
    const file = temp.file();
    writeFileSync(file, '', { mode: 0o600 });
    const holder = startFixture('sqlite-hold-lock.ts', [file, '2500']);
    await holder.said('locked');
    const store = sqliteStore({ path: file, busyTimeoutMs: 1_000 });
    const { tokens, fake, warnings } = managerOn(store);
    try {
      await tokens.getToken('p');
      expect(warnings).toEqual([]);
      expect(await store.get(fake.provider.cacheKey)).toBeDefined();
    } finally {
      await tokens.close();
      expect(await holder.exited).toBe(0);
    }
  }, 30_000);

  it("another program's SQLite database is left untouched; tokens stay in memory, with one warning", async () => {
    const file = temp.file();
    withDatabase(file, (db) => db.exec("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me')"));
    chmodSync(file, 0o600);
    const before = readFileSync(file);
    const { tokens, fake, warnings } = managerOn(sqliteStore({ path: file }));
    try {
      const results = await Promise.all(Array.from({ length: 20 }, () => tokens.getToken('p')));
      expect(new Set(results.map((token) => token.accessToken)).size).toBe(1);
      expect(fake.calls()).toBe(1);
      expect(warnings).toHaveLength(1);
      expect(JSON.stringify(warnings[0])).toContain("another program's SQLite database");
      expect(readFileSync(file)).toEqual(before);
    } finally {
      await tokens.close();
    }
  });

  it('a file from a newer schema is left untouched; tokens stay in memory, with one warning', async () => {
    const file = temp.file();
    withDatabase(file, (db) => db.exec(`PRAGMA application_id = ${APPLICATION_ID}; PRAGMA user_version = 99; CREATE TABLE future (x)`));
    chmodSync(file, 0o600);
    const before = readFileSync(file);
    const { tokens, fake, warnings } = managerOn(sqliteStore({ path: file }));
    try {
      await tokens.getToken('p');
      await tokens.getToken('p');
      expect(fake.calls()).toBe(1);
      expect(warnings).toHaveLength(1);
      expect(JSON.stringify(warnings[0])).toMatch(/newer tokenbroker \(schema 99; this one knows up to 1\)/);
      expect(readFileSync(file)).toEqual(before);
    } finally {
      await tokens.close();
    }
  });

  it('an older schema is migrated in place, keeping its tokens and ledger; reopening runs no step twice', async () => {
    const file = temp.file();
    const v1 = rawStore(file);
    const token = sampleToken();
    await v1.set('k', token, 60_000);
    expect((await v1.ledger.reserve('k', Date.now(), 1, 60_000)).allowed).toBe(true);
    await v1.close();
    let runs = 0;
    const v2 = (db: DatabaseSync) => {
      runs += 1;
      db.exec('CREATE TABLE added_in_v2 (x)');
    };
    for (let open = 0; open < 2; open++) {
      const store = rawStore(file, { migrations: [...MIGRATIONS, v2] });
      expect(await store.get('k')).toEqual(token);
      expect((await store.ledger.reserve('k', Date.now(), 1, 60_000)).allowed).toBe(false);
      await store.close();
    }
    expect(runs).toBe(1);
    withDatabase(file, (db) => expect(db.prepare('PRAGMA user_version').get()).toEqual({ user_version: 2 }));
    // And the released schema (1) now refuses the file rather than misreading it.
    const old = rawStore(file);
    await expect(old.get('k')).rejects.toThrow(/newer tokenbroker \(schema 2/);
    await old.close();
  });

  it('a full disk fails the write, not the caller: the token is served from memory, one warning, no hang', async () => {
    const file = temp.file();
    const full = (db: DatabaseSync) => {
      const { page_count: pages } = db.prepare('PRAGMA page_count').get() as { page_count: number };
      db.exec(`PRAGMA max_page_count = ${pages}`);
    };
    const store = rawStore(file, { onConnect: full });
    await expect(store.set('direct', { ...sampleToken(), accessToken: 'x'.repeat(20_000) }, 60_000)).rejects.toThrow(/full/);
    // A token too big for the room left: the write needs pages the "disk" does not have.
    const big = fakeProvider({ fallback: () => tokenBody(3600, { access_token: `big-${'x'.repeat(12_000)}-${Date.now()}` }) });
    const { tokens, fake, warnings } = managerOn(store, big);
    try {
      const started = Date.now();
      const token = await tokens.getToken('p');
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(token.accessToken).toMatch(/^big-/);
      expect((await tokens.getToken('p')).accessToken).toBe(token.accessToken);
      expect(fake.calls()).toBe(1);
      expect(warnings).toHaveLength(1);
      expect(JSON.stringify(warnings[0])).toMatch(/full/);
    } finally {
      await tokens.close();
    }
  });
});

describe('sqliteStore: transient trouble', () => {
  it('a file locked by another process past busyTimeoutMs fails that call promptly; the next works', async () => {
    const file = temp.file();
    const store = sqliteStore({ path: file, busyTimeoutMs: 100 });
    await store.set('k', sampleToken(), 60_000);
    const other = new (loadSqlite().DatabaseSync)(file);
    other.exec('BEGIN IMMEDIATE'); // another process holding the write lock
    try {
      const started = Date.now();
      await expect(store.set('k', sampleToken(), 60_000)).rejects.toThrow(/busy/);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(await store.get('k')).toBeDefined(); // reads do not wait for the writer (WAL)
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    await expect(store.set('k', sampleToken(), 60_000)).resolves.toBeUndefined();
    await store.close();
  });

  it("opened while another process creates it: the header is read in one snapshot, never taken for another program's database", async () => {
    const file = temp.file();
    // The file as its creator leaves it between `PRAGMA journal_mode = WAL` and the commit of its migration.
    withDatabase(file, (db) => db.exec('PRAGMA journal_mode = WAL'));
    chmodSync(file, 0o600);
    // The creator's migration commits right after this process's first read of the header: the
    // interleaving two processes opening a fresh file at once can fall into, made deterministic.
    const { StatementSync } = loadSqlite();
    const original = StatementSync.prototype.get;
    const get = original as (this: StatementSync, ...args: unknown[]) => unknown;
    let creator: SqliteStore | undefined;
    let armed = true;
    StatementSync.prototype.get = function (this: StatementSync, ...args: unknown[]) {
      const row = get.apply(this, args);
      if (armed) {
        armed = false; // the creator's own reads go straight through
        creator = rawStore(file);
      }
      return row;
    } as StatementSync['get'];
    let store: SqliteStore;
    try {
      store = rawStore(file);
    } finally {
      StatementSync.prototype.get = original;
    }
    expect(creator).toBeDefined();
    // Both opened the one token file, so neither falls back to its own memory: one token request.
    const fake = fakeProvider();
    const first = managerOn(creator!, fake);
    const second = managerOn(store, fake);
    try {
      const [a, b] = await Promise.all([first.tokens.getToken('p'), second.tokens.getToken('p')]);
      expect([...first.warnings, ...second.warnings].map((warning) => warning.message)).toEqual([]);
      expect(fake.calls()).toBe(1);
      expect(b).toEqual(a);
    } finally {
      await first.tokens.close();
      await second.tokens.close();
    }
  });

  it('a file that could not be used is tried again (at most once a second) and used once it works', async () => {
    const file = temp.file();
    withDatabase(file, (db) => db.exec(`PRAGMA application_id = ${APPLICATION_ID}; PRAGMA user_version = 5`));
    chmodSync(file, 0o600);
    const store = sqliteStore({ path: file });
    await expect(store.get('k')).rejects.toThrow(/newer tokenbroker/);
    withDatabase(file, (db) => db.exec('PRAGMA user_version = 0; PRAGMA application_id = 0'));
    await expect(store.get('k')).rejects.toThrow(/newer tokenbroker/); // within the second: not tried yet
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await store.set('k', sampleToken(), 60_000);
    expect(await store.get('k')).toBeDefined();
    await store.close();
  });
});

describe('sqliteStore: encryption at rest', () => {
  const keyA = Buffer.alloc(32, 1).toString('base64');
  const keyB = Buffer.alloc(32, 2).toString('base64');

  it('a wrong key: the stored token is a miss with one warning, a fresh one replaces it, then it is read back', async () => {
    const file = temp.file();
    const writer = sqliteStore({ path: file, encryptionKeys: [keyA] });
    const fake = fakeProvider();
    await writer.set(fake.provider.cacheKey, sampleToken(), 60_000);
    await writer.close();
    const logger = recordingLogger();
    const store = sqliteStore({ path: file, encryptionKeys: [keyB], logger });
    const tokens = createTokenManager({ providers: { p: fake.provider }, store });
    try {
      const token = await tokens.getToken('p');
      expect(fake.calls()).toBe(1);
      expect(logger.warnings).toHaveLength(1);
      expect(logger.warnings[0]!.object.reason).toMatch(/key that is not in encryptionKeys/);
      expect(await store.get(fake.provider.cacheKey)).toEqual(token);
    } finally {
      await tokens.close();
    }
  });

  it('rotation: a new key first, the old one after, reads what the old key wrote', async () => {
    const file = temp.file();
    const old = sqliteStore({ path: file, encryptionKeys: [keyA] });
    const token = sampleToken();
    await old.set('k', token, 60_000);
    await old.close();
    const rotated = sqliteStore({ path: file, encryptionKeys: [keyB, keyA] });
    expect(await rotated.get('k')).toEqual(token);
    await rotated.close();
  });
});

describe('sqliteStore: permissions', () => {
  it('refuses a file other users can read, naming chmod 600', () => {
    const file = temp.file();
    writeFileSync(file, '');
    chmodSync(file, 0o640);
    expect(() => sqliteStore({ path: file })).toThrow(ConfigError);
    expect(() => sqliteStore({ path: file })).toThrow(`run \`chmod 600 ${file}\``);
  });

  it('refuses a directory other users can open, naming chmod 700', () => {
    const dir = temp.dir();
    chmodSync(dir, 0o755);
    expect(() => sqliteStore({ path: join(dir, 'tokens.sqlite') })).toThrow(`run \`chmod 700 ${dir}\``);
    expect(existsSync(join(dir, 'tokens.sqlite'))).toBe(false);
  });
});

describe('sqliteStore: the raw bytes of the file', () => {
  let emulator: Emulator;
  beforeAll(async () => {
    emulator = await startEmulator({ clients: [{ provider: 'alternative-payments', clientId: CLIENT_ID, clientSecret: SECRET }] });
  });
  afterAll(() => emulator?.close());

  /** Every byte of the database, its WAL and shared-memory files. */
  function rawBytes(dir: string): string {
    return readdirSync(dir)
      .map((name) => readFileSync(join(dir, name)).toString('latin1'))
      .join('\n');
  }

  const secretForms = [SECRET, encodeURIComponent(SECRET), Buffer.from(SECRET).toString('base64'), Buffer.from(`${CLIENT_ID}:${SECRET}`).toString('base64')];

  it.each([
    ['without encryption keys: no client secret', false],
    ['with encryption keys: no client secret and no token', true],
  ])('%s', async (_name, encrypted) => {
    const dir = temp.dir();
    const store = sqliteStore({ path: join(dir, 'tokens.sqlite'), ...(encrypted ? { encryptionKeys: [Buffer.alloc(32, 9).toString('base64')] } : {}) });
    const tokens = createTokenManager({
      providers: { ap: alternativePayments({ clientId: CLIENT_ID, clientSecret: SECRET, baseUrl: emulator.alternativePaymentsBaseUrl }) },
      store,
    });
    try {
      const token = await tokens.getToken('ap');
      await tokens.getToken('ap', { forceRefresh: true });
      const bytes = rawBytes(dir);
      expect(bytes.length).toBeGreaterThan(1_000);
      for (const form of secretForms) expect(bytes).not.toContain(form);
      if (encrypted) expect(bytes).not.toContain(token.accessToken.slice(0, 24));
      else expect(bytes).toContain(token.accessToken); // the scan does see what is there
    } finally {
      await tokens.close();
    }
  });
});
