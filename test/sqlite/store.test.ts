/**
 * The SQLite store against the store conformance suite, and what it does of its own: the lock row,
 * waiting by polling, two stores (two connections, as two processes have) on one file, listing and
 * clearing, and what it shows of itself.
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

describe('sqliteStore: locks', () => {
  it('one owner at a time across two connections; only the owner releases; the lock expires by itself', async () => {
    const path = temp.file();
    const a = sqliteStore({ path });
    const b = sqliteStore({ path });
    try {
      const owner = await a.acquireLock('k', 300);
      expect(owner).toEqual(expect.any(String));
      expect(await b.acquireLock('k', 300)).toBeUndefined();
      await b.releaseLock('k', 'not-the-owner');
      expect(await b.acquireLock('k', 300)).toBeUndefined();
      await a.releaseLock('k', owner!);
      const second = await b.acquireLock('k', 200);
      expect(second).toEqual(expect.any(String));
      expect(second).not.toBe(owner);
      await sleep(300);
      expect(await a.acquireLock('k', 200)).toEqual(expect.any(String));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('extendLock keeps the lock only for its owner, and not once it has expired', async () => {
    const store = sqliteStore({ path: temp.file() });
    try {
      const owner = (await store.acquireLock('k', 200))!;
      expect(await store.extendLock('k', 'someone-else', 5_000)).toBe(false);
      expect(await store.extendLock('k', owner, 5_000)).toBe(true);
      await sleep(300);
      expect(await store.acquireLock('k', 200)).toBeUndefined(); // extended past its first TTL
      const short = sqliteStore({ path: temp.file() });
      const mine = (await short.acquireLock('x', 100))!;
      await sleep(200);
      expect(await short.extendLock('x', mine, 5_000)).toBe(false);
      await short.close();
    } finally {
      await store.close();
    }
  });
});

describe('sqliteStore: waitForToken', () => {
  it('finds a token another connection stores, within a poll interval', async () => {
    const path = temp.file();
    const holder = sqliteStore({ path });
    const waiter = sqliteStore({ path, pollIntervalMs: 20 });
    try {
      const owner = (await holder.acquireLock('w', 5_000))!;
      const waiting = waiter.waitForToken('w', 5_000, new AbortController().signal);
      await sleep(100);
      const token = sampleToken();
      const storedAt = Date.now();
      await holder.set('w', token, 60_000);
      expect((await waiting)?.accessToken).toBe(token.accessToken);
      expect(Date.now() - storedAt).toBeLessThan(1_000);
      await holder.releaseLock('w', owner);
    } finally {
      await Promise.all([holder.close(), waiter.close()]);
    }
  });

  it('returns what is stored (maybe nothing) once the lock is released or has expired', async () => {
    const path = temp.file();
    const holder = sqliteStore({ path });
    const waiter = sqliteStore({ path, pollIntervalMs: 20 });
    try {
      const owner = (await holder.acquireLock('released', 5_000))!;
      const released = waiter.waitForToken('released', 5_000, new AbortController().signal);
      await sleep(60);
      await holder.releaseLock('released', owner);
      expect(await released).toBeUndefined();

      await holder.acquireLock('expired', 200); // its holder "dies": nobody releases it
      const started = Date.now();
      expect(await waiter.waitForToken('expired', 5_000, new AbortController().signal)).toBeUndefined();
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await Promise.all([holder.close(), waiter.close()]);
    }
  });

  it('ignores the token already there when the wait began; times out; honours abort and close', async () => {
    const path = temp.file();
    const holder = sqliteStore({ path });
    const waiter = sqliteStore({ path, pollIntervalMs: 20 });
    try {
      await holder.set('old', sampleToken(), 60_000);
      await holder.acquireLock('old', 10_000);
      const started = Date.now();
      expect(await waiter.waitForToken('old', 300, new AbortController().signal)).toBeUndefined();
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);

      const controller = new AbortController();
      const aborted = waiter.waitForToken('old', 8_000, controller.signal);
      setTimeout(() => controller.abort(new Error('stop')), 50);
      await expect(aborted).rejects.toThrow('stop');

      const closing = waiter.waitForToken('old', 8_000, new AbortController().signal);
      await sleep(50);
      await waiter.close();
      expect(await closing).toBeUndefined();
    } finally {
      await Promise.all([holder.close(), waiter.close()]);
    }
  });

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
