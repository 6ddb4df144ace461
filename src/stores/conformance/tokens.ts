/**
 * Tokens with a TTL and compare-and-delete: what every store, local or shared, must do; and, for a
 * shared store, that another store on the same backing sees it.
 */
import assert from 'node:assert/strict';
import type { SharedTokenStore } from '../types.js';
import { sampleToken, sleep, type Section, type TokenSurface } from './harness.js';

/** The token tests every store passes. */
export const tokenSection: Section<TokenSurface> = (test) => {
  test('returns what was set, scope included, and nothing for an unknown key', async ({ open }) => {
    const store = await open();
    const token = sampleToken({ scope: 'customer_club' });
    await store.put('credential-a', token, 60_000);
    assert.deepEqual(await store.read('credential-a'), token);
    assert.equal(await store.read('credential-b'), undefined);
  });

  test('a second set replaces the token; keys are kept apart', async ({ open }) => {
    const store = await open();
    const [first, second, other] = [sampleToken(), sampleToken(), sampleToken()];
    await store.put('a', first, 60_000);
    await store.put('b', other, 60_000);
    await store.put('a', second, 60_000);
    assert.equal((await store.read('a'))?.accessToken, second.accessToken);
    assert.equal((await store.read('b'))?.accessToken, other.accessToken);
  });

  test('forgets a token once its TTL has passed', async ({ open }) => {
    const store = await open();
    await store.put('short', sampleToken(), 150);
    await store.put('long', sampleToken(), 60_000);
    await sleep(500);
    assert.equal(await store.read('short'), undefined, 'a token outlived its TTL');
    assert.notEqual(await store.read('long'), undefined);
  });

  test('compare-and-delete drops the token only while it is still the one named', async ({ open }) => {
    const store = await open();
    const current = sampleToken();
    await store.put('k', current, 60_000);
    await store.remove('k', 'some-older-token');
    assert.equal((await store.read('k'))?.accessToken, current.accessToken, 'deleting an older token dropped the current one');
    await store.remove('k', current.accessToken);
    assert.equal(await store.read('k'), undefined);
  });

  test('delete without a token drops whatever is current; deleting nothing is harmless', async ({ open }) => {
    const store = await open();
    await store.put('k', sampleToken(), 60_000);
    await store.remove('k');
    assert.equal(await store.read('k'), undefined);
    await store.remove('k');
    await store.remove('never', 'x');
  });
};

/** The shared store's tokens as a {@link TokenSurface}: its methods map one to one. */
export function sharedSurface(store: SharedTokenStore): TokenSurface {
  return {
    put: (key, token, ttlMs) => store.set(key, token, ttlMs),
    read: (key) => store.get(key),
    remove: (key, accessToken) => store.delete(key, accessToken),
    ledger: store.ledger,
  };
}

/** What only a shared store does with tokens: another store on the same backing sees them. */
export const sharedTokenSection: Section<SharedTokenStore> = (test) => {
  test('a token one store sets, another store on the same backing reads, and can compare-and-delete', async ({ open }) => {
    const [a, b] = [await open(), await open()];
    const token = sampleToken();
    await a.set('k', token, 60_000);
    assert.deepEqual(await b.get('k'), token, 'another store on the same backing did not see the token');
    await b.delete('k', 'some-older-token');
    assert.equal((await a.get('k'))?.accessToken, token.accessToken);
    await b.delete('k', token.accessToken);
    assert.equal(await a.get('k'), undefined, "another store's compare-and-delete did not drop the token");
  });
};
