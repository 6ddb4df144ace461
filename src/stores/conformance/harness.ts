/**
 * What every section of the conformance suite is written against: a test registrar, and one test's
 * stores, each closed when its test ends. Runner-neutral: no test framework is imported here, and
 * failures are `node:assert` errors, which every runner reports.
 */
import type { Token } from '../../base/token.js';
import type { IssuanceLedger } from '../types.js';

/** The token semantics every store shares (local or shared), as one shape. */
export interface TokenSurface {
  /** Stores `token` for `ttlMs`. */
  put(key: string, token: Token, ttlMs: number): Promise<void>;
  /** The token stored for `key` and still within its TTL. */
  read(key: string): Promise<Token | undefined>;
  /** Deletes; with `accessToken`, only while it is still that token. */
  remove(key: string, accessToken?: string): Promise<void>;
  /** The store's issuance ledger. */
  readonly ledger: IssuanceLedger;
}

/** One test's stores. */
export interface Fixture<S> {
  /**
   * A store on this test's own namespace. A second call gives another store on the same namespace:
   * what another process sharing the backing sees.
   */
  open(): Promise<S>;
  /** Closes `store` now (it is not closed again when the test ends). */
  close(store: S): Promise<void>;
  /** Aborted when the test ends: a wait given it never outlives its test, even on a broken store. */
  readonly signal: AbortSignal;
}

/** Registers one test of a section. */
export type Register<S> = (name: string, body: (fixture: Fixture<S>) => Promise<void>) => void;

/** A section of the suite: registers its tests. */
export type Section<S> = (test: Register<S>) => void;

let serial = 0;

/** A token unlike any other this process made. */
export function sampleToken(overrides: Partial<Token> = {}): Token {
  serial += 1;
  const now = Date.now();
  return {
    accessToken: `conformance-${serial}-${Math.random().toString(36).slice(2)}`,
    tokenType: 'Bearer',
    issuedAt: now,
    expiresAt: now + 3_600_000,
    ...overrides,
  };
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Ms since `start` on the monotonic clock. */
export function since(start: number): number {
  return performance.now() - start;
}

/** What became of a promise within a bound: its value, its error, or still pending. */
export type Outcome<T> =
  { readonly settled: 'resolved'; readonly value: T } | { readonly settled: 'rejected'; readonly error: unknown } | { readonly settled: 'pending' };

/** Waits at most `ms` for `promise`, never longer (a broken store's wait must not hold the suite). */
export async function within<T>(promise: Promise<T>, ms: number): Promise<Outcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<Outcome<T>>((resolve) => {
    timer = setTimeout(() => resolve({ settled: 'pending' }), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        (value): Outcome<T> => ({ settled: 'resolved', value }),
        (error: unknown): Outcome<T> => ({ settled: 'rejected', error }),
      ),
      pending,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** `section`, run on a view of each store a test opens (e.g. a token surface over a shared store). */
export function through<T, S>(section: Section<S>, view: (store: T) => S): Section<T> {
  return (test) =>
    section((name, body) =>
      test(name, (fixture) => {
        const stores = new Map<S, T>();
        return body({
          signal: fixture.signal,
          async open() {
            const store = await fixture.open();
            const viewed = view(store);
            stores.set(viewed, store);
            return viewed;
          },
          async close(viewed) {
            const store = stores.get(viewed);
            if (store !== undefined) await fixture.close(store);
          },
        });
      }),
    );
}
