/**
 * The SQLite store against the store conformance suite (`tokenbroker/testing`), and what it does of its
 * own: a wait timed on the monotonic clock, two stores (two connections, as two processes have) on
 * one file, listing and clearing, and what it shows of itself.
 */
import { rmSync, statSync } from 'node:fs';
import { inspect } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { sqliteStore } from 'tokenbroker/sqlite';
import { storeConformance } from 'tokenbroker/testing';
import { managerConformance, sampleToken } from '../stores/conformance.js';
import { tempDirs } from './helpers.js';

const temp = tempDirs();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// One file per namespace: stores on one file share it, as the processes of one host do.
storeConformance({ name: 'sqliteStore: store conformance', create: (namespace) => sqliteStore({ path: temp.file(`${namespace}.sqlite`) }), it, describe });

managerConformance('sqliteStore', () => sqliteStore({ path: temp.file() }));

// Locks and waits as every shared store does them are the conformance suite's; this is what SQLite adds.
describe('sqliteStore: waitForToken', () => {
  it('times its wait on the monotonic clock: a wall clock stepped back an hour does not stretch it', async () => {
    const path = temp.file();
    const holder = sqliteStore({ path });
    const waiter = sqliteStore({ path, pollIntervalMs: 20 });
    const realNow = Date.now.bind(Date);
    try {
      await holder.acquireLock('k', 10_000);
      const waiting = waiter.waitForToken('k', 400, new AbortController().signal);
      await sleep(100);
      // The lock's expiry is wall-clock time shared by every process: stepped back, it stays held.
      vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 3_600_000);
      const outcome = await Promise.race([waiting.then(() => 'timed out'), sleep(3_000).then(() => 'still waiting')]);
      expect(outcome).toBe('timed out');
    } finally {
      vi.restoreAllMocks();
      await Promise.all([holder.close(), waiter.close()]);
    }
  });
});

describe('sqliteStore: the file', () => {
  it('is created 0600 in a directory created 0700, its WAL files too', async () => {
    const dir = `${temp.dir()}/nested/state`;
    const store = sqliteStore({ path: `${dir}/tokens.sqlite` });
    try {
      await store.set('k', sampleToken(), 60_000);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      for (const suffix of ['', '-wal', '-shm']) expect(statSync(`${dir}/tokens.sqlite${suffix}`).mode & 0o777).toBe(0o600);
    } finally {
      await store.close();
    }
  });

  it('follows its path: a file deleted (or replaced) under an open store is opened afresh, and shared again', async () => {
    const path = temp.file();
    const a = sqliteStore({ path });
    try {
      await a.set('k', sampleToken(), 60_000);
      rmSync(path);
      rmSync(`${path}-wal`, { force: true });
      rmSync(`${path}-shm`, { force: true });
      expect(await a.get('k')).toBeUndefined(); // the fresh file at the path, not the deleted one
      const token = sampleToken();
      await a.set('k', token, 60_000);
      const b = sqliteStore({ path });
      expect(await b.get('k')).toEqual(token);
      await b.close();
    } finally {
      await a.close();
    }
  });

  it('lists stored tokens and clears them by key prefix, keeping the ledger', async () => {
    const store = sqliteStore({ path: temp.file() });
    try {
      const ap = sampleToken();
      await store.set('alternative-payments:a:b', ap, 60_000);
      await store.set('autopay:c:d', sampleToken(), 60_000);
      await store.set('autopay:gone', sampleToken(), 1);
      const reserved = await store.ledger.reserve('autopay:c:d', Date.now(), 1, 60_000);
      await sleep(10);
      const entries = await store.entries();
      expect(entries.map((entry) => entry.key)).toEqual(['alternative-payments:a:b', 'autopay:c:d']);
      expect(entries[0]!.token).toEqual(ap);
      expect(entries[0]!.storedUntil).toBeGreaterThan(Date.now() + 50_000);
      expect(await store.clear('autopay:')).toBe(1);
      expect((await store.entries()).map((entry) => entry.key)).toEqual(['alternative-payments:a:b']);
      expect(reserved.allowed).toBe(true);
      expect((await store.ledger.reserve('autopay:c:d', Date.now(), 1, 60_000)).allowed).toBe(false);
      expect(await store.clear()).toBe(1);
      expect(await store.entries()).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('shows its path and kind, never a key or a token; calls after close() fail', async () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const store = sqliteStore({ path: temp.file(), encryptionKeys: [key] });
    const token = sampleToken();
    await store.set('k', token, 60_000);
    const shown = `${inspect(store, { depth: 5, showHidden: true })} ${JSON.stringify(store)} ${inspect(store.ledger)}`;
    expect(shown).toContain('sqlite');
    expect(shown).toContain('encrypted: true');
    expect(shown).not.toContain(key);
    expect(shown).not.toContain(token.accessToken);
    await store.close();
    await expect(store.get('k')).rejects.toThrow('closed');
  });

  it('refuses bad options with one ConfigError listing each', () => {
    expect(() => sqliteStore({ path: '' })).toThrow(/sqliteStore\.path/);
    expect(() => sqliteStore({ path: temp.file(), encryptionKeys: ['short'], pollIntervalMs: 1, bogus: 1 } as never)).toThrow(
      /3 problems[\s\S]*encryptionKeys\[0\][\s\S]*pollIntervalMs[\s\S]*bogus/,
    );
  });
});
