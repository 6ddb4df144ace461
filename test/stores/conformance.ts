/**
 * One conformance suite for the semantics every store shares: tokens with a TTL, compare-and-delete,
 * and the issuance ledger's rolling window. It runs against the memory, SQLite and Redis stores, at
 * two levels: the store itself (through a small adapter, since the local and shared contracts differ in
 * shape), and a token manager built on it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenManager, type IssuanceLedger, type SharedTokenStore, type Token, type TokenStore } from '../../src/index.js';
import { fakeProvider } from '../helpers/fake-provider.js';

/** The shared semantics, as one shape over either kind of store. */
export interface StoreSubject {
  put(key: string, token: Token, ttlMs: number): Promise<void>;
  read(key: string): Promise<Token | undefined>;
  remove(key: string, accessToken?: string): Promise<void>;
  readonly ledger: IssuanceLedger;
  close(): Promise<void>;
}

/** A shared store (SQLite, Redis in any topology) as a {@link StoreSubject}: its methods map one to one. */
export function sharedStoreSubject(store: SharedTokenStore): StoreSubject {
  return {
    put: (key, token, ttlMs) => store.set(key, token, ttlMs),
    read: (key) => store.get(key),
    remove: (key, accessToken) => store.delete(key, accessToken),
    ledger: store.ledger,
    close: () => store.close(),
  };
}

let serial = 0;

export function sampleToken(overrides: Partial<Token> = {}): Token {
  serial += 1;
  const now = Date.now();
  return {
    accessToken: `access-${serial}-${Math.random().toString(36).slice(2)}`,
    tokenType: 'Bearer',
    issuedAt: now,
    expiresAt: now + 3_600_000,
    ...overrides,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The store-level suite. `makeSubject` is called once per test. */
export function storeConformance(name: string, makeSubject: () => Promise<StoreSubject>): void {
  describe(`${name}: store conformance`, () => {
    let subject: StoreSubject | undefined;
    const open = async () => (subject = await makeSubject());
    afterEach(async () => {
      await subject?.close();
      subject = undefined;
    });

    it('returns what was set, scope included, and nothing for an unknown key', async () => {
      const store = await open();
      const token = sampleToken({ scope: 'customer_club' });
      await store.put('credential-a', token, 60_000);
      expect(await store.read('credential-a')).toEqual(token);
      expect(await store.read('credential-b')).toBeUndefined();
    });

    it('replaces the token on a second set, and keeps keys apart', async () => {
      const store = await open();
      const first = sampleToken();
      const second = sampleToken();
      const other = sampleToken();
      await store.put('a', first, 60_000);
      await store.put('b', other, 60_000);
      await store.put('a', second, 60_000);
      expect((await store.read('a'))?.accessToken).toBe(second.accessToken);
      expect((await store.read('b'))?.accessToken).toBe(other.accessToken);
    });

    it('forgets a token once its TTL has passed', async () => {
      const store = await open();
      await store.put('short', sampleToken(), 150);
      await store.put('long', sampleToken(), 60_000);
      await sleep(400);
      expect(await store.read('short')).toBeUndefined();
      expect(await store.read('long')).toBeDefined();
    });

    it('compare-and-delete drops the token only while it is still the one named', async () => {
      const store = await open();
      const current = sampleToken();
      await store.put('k', current, 60_000);
      await store.remove('k', 'some-older-token');
      expect((await store.read('k'))?.accessToken).toBe(current.accessToken);
      await store.remove('k', current.accessToken);
      expect(await store.read('k')).toBeUndefined();
    });

    it('delete without a token drops whatever is current; deleting nothing is harmless', async () => {
      const store = await open();
      await store.put('k', sampleToken(), 60_000);
      await store.remove('k');
      expect(await store.read('k')).toBeUndefined();
      await expect(store.remove('k')).resolves.toBeUndefined();
      await expect(store.remove('never', 'x')).resolves.toBeUndefined();
    });

    // The ledger tests run on the real clock, `Date.now()` at each call: a shared ledger may count by
    // its server's clock instead of the `now` it is given (the Redis one does), so time is not simulated.
    it('ledger: allows up to the limit in the window, then refuses with the wait until the oldest leaves', async () => {
      const { ledger } = await open();
      const window = 60_000;
      const first = Date.now();
      expect((await ledger.reserve('cred', Date.now(), 2, window)).allowed).toBe(true);
      await sleep(200);
      expect((await ledger.reserve('cred', Date.now(), 2, window)).allowed).toBe(true);
      const refused = await ledger.reserve('cred', Date.now(), 2, window);
      expect(refused.allowed).toBe(false);
      if (refused.allowed) throw new Error('unreachable');
      // The oldest was counted at about `first`: it leaves the window about `window` after it.
      expect(refused.retryAfterMs).toBeLessThanOrEqual(window - 150);
      expect(refused.retryAfterMs).toBeGreaterThan(window - (Date.now() - first) - 1_000);
      // Another credential has its own budget.
      expect((await ledger.reserve('other', Date.now(), 2, window)).allowed).toBe(true);
    });

    it('ledger: a released reservation gives its room back; releasing an unknown one is harmless', async () => {
      const { ledger } = await open();
      const first = await ledger.reserve('cred', Date.now(), 1, 60_000);
      expect(first.allowed).toBe(true);
      expect((await ledger.reserve('cred', Date.now(), 1, 60_000)).allowed).toBe(false);
      if (!first.allowed) throw new Error('unreachable');
      await ledger.release('cred', 'not-a-reservation');
      expect((await ledger.reserve('cred', Date.now(), 1, 60_000)).allowed).toBe(false);
      await ledger.release('cred', first.reservation);
      expect((await ledger.reserve('cred', Date.now(), 1, 60_000)).allowed).toBe(true);
    });

    it('ledger: a confirmed reservation counts from its confirmation time', async () => {
      const { ledger } = await open();
      const window = 1_500;
      const reservedAt = Date.now();
      const first = await ledger.reserve('cred', reservedAt, 1, window);
      if (!first.allowed) throw new Error('expected room');
      await sleep(700); // the token arrived 0.7 s after the reservation
      const confirmedAt = Date.now();
      await ledger.confirm?.('cred', first.reservation, confirmedAt);
      const refused = await ledger.reserve('cred', Date.now(), 1, window);
      if (refused.allowed) throw new Error('expected a refusal');
      // Counted from the reservation, it would leave in at most 800 ms; from the confirmation, ~1 500.
      expect(refused.retryAfterMs).toBeGreaterThan(window - (Date.now() - confirmedAt) - 150);
      // Past the reservation's window but not the confirmation's: still counted (the entry, and whatever
      // holds it, must outlive the reservation's window).
      await sleep(Math.max(0, reservedAt + window + 250 - Date.now()));
      expect((await ledger.reserve('cred', Date.now(), 1, window)).allowed).toBe(false);
      await sleep(Math.max(0, confirmedAt + window + 100 - Date.now()));
      expect((await ledger.reserve('cred', Date.now(), 1, window)).allowed).toBe(true);
    });

    it('ledger: entries older than the window no longer count', async () => {
      const { ledger } = await open();
      expect((await ledger.reserve('cred', Date.now(), 1, 400)).allowed).toBe(true);
      expect((await ledger.reserve('cred', Date.now(), 1, 400)).allowed).toBe(false);
      await sleep(500);
      expect((await ledger.reserve('cred', Date.now(), 1, 400)).allowed).toBe(true);
    });
  });
}

/** The manager-level suite: the same policy outcomes whichever store sits behind the manager. */
export function managerConformance(name: string, makeStore: () => TokenStore): void {
  describe(`${name}: behind a token manager`, () => {
    const managers: Array<{ close(): Promise<void> }> = [];
    afterEach(async () => {
      await Promise.all(managers.splice(0).map((manager) => manager.close()));
    });
    const manager = (options: { maxTokens?: number } = {}) => {
      const fake = fakeProvider();
      const tokens = createTokenManager({
        providers: { p: fake.provider },
        store: makeStore(),
        guard: { maxTokens: options.maxTokens ?? 6 },
        retry: { attempts: 1 },
      });
      managers.push(tokens);
      return { tokens, fake };
    };

    it('500 concurrent cold calls send one request and share its token', async () => {
      const { tokens, fake } = manager();
      const results = await Promise.all(Array.from({ length: 500 }, () => tokens.getToken('p')));
      expect(fake.calls()).toBe(1);
      expect(new Set(results.map((token) => token.accessToken)).size).toBe(1);
    });

    it('invalidate drops only the named token, and the next call fetches a new one', async () => {
      const { tokens, fake } = manager();
      const first = await tokens.getToken('p');
      tokens.invalidate('p', 'an-older-token');
      expect((await tokens.getToken('p')).accessToken).toBe(first.accessToken);
      expect(tokens.invalidate('p', first.accessToken)).toBe(true);
      const second = await tokens.getToken('p');
      expect(second.accessToken).not.toBe(first.accessToken);
      expect(fake.calls()).toBe(2);
    });

    it('the issuance guard stops at its budget and serves the current token', async () => {
      const { tokens, fake } = manager({ maxTokens: 2 });
      await tokens.getToken('p');
      const forced = await tokens.getToken('p', { forceRefresh: true });
      const refused = await tokens.getToken('p', { forceRefresh: true });
      expect(fake.calls()).toBe(2);
      expect(refused.accessToken).toBe(forced.accessToken);
      expect(tokens.stats().guardRefusals).toBe(1);
    });
  });
}
