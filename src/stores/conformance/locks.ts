/**
 * The lock per credential that elects one fetcher among the processes sharing a store: one owner at a
 * time, released only by its owner, a lease that expires when its holder dies, and renewal by the
 * owner alone. Two stores on one backing stand for two processes.
 */
import assert from 'node:assert/strict';
import type { SharedTokenStore } from '../types.js';
import { sleep, type Section } from './harness.js';

/** A lease short enough to watch expire, with a margin no scheduler hiccup eats. */
const SHORT_LEASE_MS = 300;
/** Long past a short lease: the margin is generous on purpose, so a slow machine never fails the suite. */
const PAST_SHORT_LEASE_MS = 800;

async function owned(store: SharedTokenStore, key: string, ttlMs: number): Promise<string> {
  const owner = await store.acquireLock(key, ttlMs);
  assert.equal(typeof owner, 'string', 'acquireLock on a free lock returned no owner');
  assert.notEqual(owner, '', 'acquireLock returned an empty owner');
  return owner!;
}

async function refused(store: SharedTokenStore, key: string, why: string): Promise<void> {
  assert.equal(await store.acquireLock(key, 10_000), undefined, why);
}

/** The lock tests. */
export const lockSection: Section<SharedTokenStore> = (test) => {
  test('locks: one owner at a time, across stores; each acquisition gets its own owner value', async ({ open }) => {
    const [a, b] = [await open(), await open()];
    const first = await owned(a, 'k', 10_000);
    await refused(b, 'k', 'a held lock was acquired by another store');
    await refused(a, 'k', 'a held lock was acquired again by the same store');
    const other = await owned(b, 'other-key', 10_000);
    assert.notEqual(other, first, 'two acquisitions got the same owner value');
  });

  test('locks: released only by its owner', async ({ open }) => {
    const [a, b] = [await open(), await open()];
    const owner = await owned(a, 'k', 10_000);
    await b.releaseLock('k', 'not-the-owner');
    await refused(b, 'k', 'releaseLock with a wrong owner released the lock');
    await a.releaseLock('k', owner);
    const next = await owned(b, 'k', 10_000);
    assert.notEqual(next, owner);
  });

  test('locks: a holder whose lease expired cannot release the next holder', async ({ open }) => {
    const [a, b] = [await open(), await open()];
    const stale = await owned(a, 'k', SHORT_LEASE_MS);
    await sleep(PAST_SHORT_LEASE_MS);
    await owned(b, 'k', 10_000);
    await a.releaseLock('k', stale);
    await refused(a, 'k', "an expired holder's releaseLock released the next holder's lock");
  });

  test('locks: the lease expires by itself (a dead holder lets go), and not before', async ({ open }) => {
    const [a, b] = [await open(), await open()];
    await owned(a, 'k', SHORT_LEASE_MS);
    await refused(b, 'k', 'a lock was acquired again within its lease');
    await sleep(PAST_SHORT_LEASE_MS);
    await owned(b, 'k', 10_000);
  });

  test('locks: extendLock renews the lease for its owner only', async ({ open }) => {
    const [a, b] = [await open(), await open()];
    const owner = await owned(a, 'k', SHORT_LEASE_MS);
    assert.equal(await b.extendLock('k', 'someone-else', 10_000), false, 'extendLock with a wrong owner returned true');
    assert.equal(await a.extendLock('k', owner, 10_000), true, "extendLock by the lock's owner returned false");
    await sleep(PAST_SHORT_LEASE_MS);
    await refused(b, 'k', 'a renewed lock expired at its first lease');
    await a.releaseLock('k', owner);
    await owned(b, 'k', 10_000);
  });

  test('locks: extendLock after the lease expired returns false and takes nothing back', async ({ open }) => {
    const [a, b] = [await open(), await open()];
    const stale = await owned(a, 'k', SHORT_LEASE_MS);
    await sleep(PAST_SHORT_LEASE_MS);
    const next = await owned(b, 'k', 10_000);
    assert.equal(await a.extendLock('k', stale, 10_000), false, 'an expired holder renewed a lock another store holds');
    assert.equal(await b.extendLock('k', next, 10_000), true, "the new holder's renewal failed");
    await refused(a, 'k', "an expired holder's renewal freed the lock");
  });

  test('locks: one key does not lock another', async ({ open }) => {
    const [a, b] = [await open(), await open()];
    await owned(a, 'one', 10_000);
    await owned(b, 'two', 10_000);
  });
};
