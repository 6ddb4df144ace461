/**
 * `tokenbroker/testing`: the conformance suite every shared store passes — the built-in SQLite and
 * Redis stores, and yours. It registers its tests with the test runner you give it (vitest, node:test,
 * jest, mocha: anything with `it(name, fn)`) and checks with `node:assert`, so it imports no test
 * framework. See docs/custom-store.md.
 */
import type { SharedTokenStore } from '../types.js';
import { callBudgetSection } from './call-budget.js';
import { through, type Section } from './harness.js';
import { ledgerSection, sharedLedgerSection } from './ledger.js';
import { lockSection } from './locks.js';
import { registerSections, type ConformanceGroup, type ConformanceTest } from './suite.js';
import { sharedSurface, sharedTokenSection, tokenSection } from './tokens.js';
import { waitSection } from './waits.js';

export type { ConformanceGroup, ConformanceTest } from './suite.js';

/** Options of {@link storeConformance}. */
export interface StoreConformanceOptions {
  /** Names the group of tests (or prefixes each test's name when no `describe` is given). */
  readonly name: string;
  /**
   * Makes a store. The suite calls it with a new `namespace` for each test, so tests never share
   * data, and again with the same `namespace` when a test needs a second process: stores made with
   * one namespace must share their data (as with one Redis key prefix, or one SQLite file), stores
   * with different namespaces must not. A namespace is letters, digits and `-`. Each test closes the
   * stores it made, whatever its outcome.
   */
  create(namespace: string): SharedTokenStore | Promise<SharedTokenStore>;
  /**
   * Your runner's `it` or `test`. The slowest test takes about 2 s and a failing wait up to 4 s: give
   * the runner a per-test timeout of 10 s (vitest's and jest's 5 s default fits a passing store;
   * mocha's 2 s does not: `--timeout 10000`).
   */
  readonly it: ConformanceTest;
  /** Your runner's `describe`, to group the tests under `name`. */
  readonly describe?: ConformanceGroup;
}

/**
 * The sections a shared store is held to, in order. Each is a function that registers its tests; a
 * new part of the contract is one more file and one more entry here.
 */
const SHARED_SECTIONS: ReadonlyArray<Section<SharedTokenStore>> = [
  through(tokenSection, sharedSurface),
  sharedTokenSection,
  through(ledgerSection, sharedSurface),
  sharedLedgerSection,
  lockSection,
  waitSection,
  callBudgetSection,
];

/**
 * Registers the store conformance suite with your test runner: tokens with a TTL, compare-and-delete,
 * the issuance ledger, the lock per credential (one owner at a time, released only by its owner, a
 * lease that expires, renewal by the owner), `waitForToken` (woken when another store stores the
 * token or the lock goes, a timeout, an abort, close) and the call budget (`requests` calls per window
 * and the next one window later, a refusal past `maxWaitMs` that holds nothing, a waiter's second look
 * counted once, release, confirmation, pauses that only lengthen, one budget across stores on one
 * namespace, keys apart). A store that passes it can stand behind `createTokenManager` as the built-in
 * ones do, paced providers included.
 *
 * Call it where your runner collects tests: at the top of a test file, or inside a `describe`. The
 * tests run on the real clock with generous bounds (a 300 ms lease is checked after 800 ms); do not
 * install fake timers around them.
 *
 * @example
 * ```ts
 * import { describe, it } from 'node:test'; // or: from 'vitest'
 * import { storeConformance } from 'tokenbroker/testing';
 *
 * storeConformance({ name: 'my store', create: (namespace) => myStore({ prefix: namespace }), it, describe });
 * ```
 */
export function storeConformance(options: StoreConformanceOptions): void {
  registerSections({ ...options, close: (store: SharedTokenStore) => store.close() }, SHARED_SECTIONS);
}
