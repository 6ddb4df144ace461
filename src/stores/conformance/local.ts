/**
 * The sections of the suite that apply to `memoryStore()`, a store only one process sees: tokens,
 * compare-and-delete and the ledger. Locks and waits do not apply — a memory store is never shared,
 * and one process's single-flight is the manager's promise per key. Not published: the local store's
 * contract is private to the manager (its warm hit trusts it), so no user writes one.
 */
import { CacheEntry } from '../cache-entry.js';
import { localContract } from '../memory.js';
import type { MemoryStore } from '../types.js';
import { through, type TokenSurface } from './harness.js';
import { ledgerSection } from './ledger.js';
import { registerSections, type ConformanceGroup, type ConformanceTest } from './suite.js';
import { tokenSection } from './tokens.js';

/** A memory store as a token surface: the usable-life check the manager makes on each read, made here. */
function localSurface(memory: MemoryStore): TokenSurface {
  const store = localContract(memory);
  return {
    async put(key, token, ttlMs) {
      const usableUntil = Date.now() + ttlMs;
      store.put(key, new CacheEntry(token, { usableUntil, refreshAt: usableUntil }, undefined), ttlMs);
    },
    async read(key) {
      const entry = store.get(key);
      return entry !== undefined && Date.now() < entry.usableUntil ? entry.token : undefined;
    },
    async remove(key, accessToken) {
      store.remove(key, accessToken);
    },
    ledger: store.ledger,
  };
}

/** Registers the sections that apply to a local store, like `storeConformance` does for a shared one. */
export function localStoreConformance(options: {
  readonly name: string;
  create(): MemoryStore;
  readonly it: ConformanceTest;
  readonly describe?: ConformanceGroup;
}): void {
  registerSections({ ...options, close: (store: MemoryStore) => store.close() }, [through(tokenSection, localSurface), through(ledgerSection, localSurface)]);
}
