/**
 * The memory store against the store conformance suite. The local store keeps an entry's usable life in
 * the entry (`usableUntil`) and leaves the check to its reader, the manager; the adapter reads it the
 * way the manager does.
 */
import { memoryStore } from '../../src/index.js';
import { CacheEntry } from '../../src/stores/cache-entry.js';
import { localContract } from '../../src/stores/memory.js';
import { managerConformance, storeConformance } from './conformance.js';

storeConformance('memoryStore', async () => {
  const store = localContract(memoryStore());
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
    close: () => store.close(),
  };
});

managerConformance('memoryStore', () => memoryStore());
