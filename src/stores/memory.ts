/**
 * The in-process store: a bounded LRU of cache entries (lru-cache) plus an in-process issuance ledger.
 */
import { LRUCache } from 'lru-cache';
import { inspect } from 'node:util';
import { z } from 'zod';
import { lazySchema, parseOptions } from '../base/validate.js';
import { MemoryCallBudget } from './call-budget.js';
import type { CacheEntry, IssuanceLedger, LedgerDecision, LocalTokenStore, MemoryStore } from './types.js';

export type { MemoryStore } from './types.js';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most credentials cached at once (default 10 000). Past it, the least recently used credential's
   * token is dropped and simply fetched again when next needed.
   */
  readonly max?: number;
}

const optionsSchema = lazySchema(() => z.strictObject({ max: z.number().int().positive().optional() }));

/**
 * The default store: tokens in this process's memory, bounded by `max`, each kept until it is no
 * longer usable. Use `sqliteStore` (`tokenbroker/sqlite`) to share tokens across the processes of one host, `redisStore` (`tokenbroker/redis`) across a fleet.
 *
 * @example
 * ```ts
 * const tokens = createTokenManager({ providers, store: memoryStore({ max: 50_000 }) });
 * ```
 */
export function memoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const { max = 10_000 } = parseOptions(optionsSchema(), options, 'memoryStore');
  return new MemoryTokenStore(max);
}

/** True for a store made by {@link memoryStore}: the only local store the manager accepts. */
export function isMemoryStore(value: unknown): value is MemoryStore & LocalTokenStore {
  return value instanceof MemoryTokenStore;
}

/** The manager's view of a memory store: the private cache contract. */
export function localContract(store: MemoryStore): LocalTokenStore {
  if (!isMemoryStore(store)) throw new TypeError('not a store made by memoryStore()');
  return store;
}

class MemoryTokenStore implements LocalTokenStore, MemoryStore {
  readonly shared = false as const;
  readonly ledger = new MemoryLedger();
  readonly callBudget = new MemoryCallBudget();
  readonly #cache: LRUCache<string, CacheEntry>;

  constructor(max: number) {
    // Each entry lives in the LRU for its usable life, so expired tokens leave memory. The manager still
    // checks `usableUntil` itself on every read; the LRU's clock, read at most once per second
    // (`ttlResolution`) rather than per hit, only decides when an entry is dropped.
    this.#cache = new LRUCache<string, CacheEntry>({
      max,
      ttl: 24 * 60 * 60 * 1000, // replaced per entry by its usable life
      ttlResolution: 1000,
      // Date.now, not performance.now: the same clock as `usableUntil`, and tests fake it.
      perf: { now: () => Date.now() },
      // Whatever the reason an entry leaves (evicted, removed, replaced, expired), references to it die.
      dispose: (entry) => {
        entry.live = false;
        if (entry.holder?.entry === entry) entry.holder.entry = undefined; // so eviction really frees it
      },
    });
  }

  get size(): number {
    return this.#cache.size;
  }

  /** The entry, marked most recently used (as lru-cache's `get`). Its expiry (`usableUntil`) is left to the caller to check. */
  get(key: string): CacheEntry | undefined {
    return this.#cache.get(key);
  }

  /** Caches `entry` for `ttlMs`, its remaining usable life. */
  put(key: string, entry: CacheEntry, ttlMs: number): void {
    this.#cache.set(key, entry, { ttl: Math.max(1, Math.ceil(ttlMs)) });
  }

  remove(key: string, accessToken?: string): boolean {
    const entry = this.#cache.peek(key);
    if (entry === undefined) return false;
    if (Date.now() >= entry.usableUntil) {
      // Past its life: as if it were gone already (it counts as expired, not as dropped).
      this.#cache.delete(key);
      return false;
    }
    if (accessToken !== undefined && entry.token.accessToken !== accessToken) return false;
    return this.#cache.delete(key);
  }

  async close(): Promise<void> {
    this.#cache.clear();
    this.callBudget.clear();
  }

  [inspect.custom](): string {
    return `MemoryTokenStore { size: ${this.#cache.size} }`;
  }

  toJSON(): unknown {
    return { kind: 'memory', size: this.#cache.size };
  }
}

/**
 * Rolling-window counts per credential, in this process only: the issue times of the tokens counted,
 * as one number when there is one (the usual case) and an array of numbers when there are several, so
 * that a broker's tens of thousands of credentials hold no object per entry. A reservation is named by
 * its own time, made unique within its credential.
 */
export class MemoryLedger implements IssuanceLedger {
  readonly #entries = new Map<string, number | number[]>();

  reserve(key: string, now: number, limit: number, windowMs: number): LedgerDecision {
    const kept = this.#times(key).filter((at) => at > now - windowMs);
    if (kept.length >= limit) {
      this.#store(key, kept);
      return { allowed: false, retryAfterMs: Math.max(1, Math.min(...kept) + windowMs - now) };
    }
    let at = now;
    while (kept.includes(at)) at += 0.001; // two reservations in one millisecond keep distinct names
    kept.push(at);
    this.#store(key, kept);
    return { allowed: true, reservation: String(at) };
  }

  confirm(key: string, reservation: string, now: number): void {
    const at = Number(reservation);
    this.#store(
      key,
      this.#times(key).map((time) => (time === at ? Math.max(time, now) : time)),
    );
  }

  release(key: string, reservation: string): void {
    const at = Number(reservation);
    this.#store(
      key,
      this.#times(key).filter((time) => time !== at),
    );
  }

  #times(key: string): number[] {
    const entry = this.#entries.get(key);
    return entry === undefined ? [] : typeof entry === 'number' ? [entry] : [...entry];
  }

  #store(key: string, times: number[]): void {
    if (times.length === 0) this.#entries.delete(key);
    else this.#entries.set(key, times.length === 1 ? times[0]! : times);
  }
}
