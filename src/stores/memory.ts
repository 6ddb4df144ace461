/**
 * The in-process store: a bounded LRU of cache entries (lru-cache) plus an in-process issuance ledger.
 */
import { LRUCache } from 'lru-cache';
import { inspect } from 'node:util';
import { z } from 'zod';
import { parseOptions } from '../validate.js';
import type { CacheEntry, IssuanceLedger, LedgerDecision, LocalTokenStore } from './types.js';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most credentials cached at once (default 10 000). Past it, the least recently used credential's
   * token is dropped and simply fetched again when next needed.
   */
  readonly max?: number;
}

const optionsSchema = z.strictObject({ max: z.number().int().positive().optional() });

/**
 * The default store: tokens in this process's memory, bounded by `max`, each kept until it is no
 * longer usable. Use `redisStore` (`tokenbroker/redis`) to share tokens across processes.
 *
 * @example
 * ```ts
 * const tokens = createTokenManager({ providers, store: memoryStore({ max: 50_000 }) });
 * ```
 */
export function memoryStore(options: MemoryStoreOptions = {}): LocalTokenStore {
  const { max = 10_000 } = parseOptions(optionsSchema, options, 'memoryStore');
  return new MemoryTokenStore(max);
}

class MemoryTokenStore implements LocalTokenStore {
  readonly shared = false as const;
  readonly ledger = new MemoryLedger();
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

  /** The entry, marked most recently used. Its expiry (`usableUntil`) is left to the caller to check. */
  peek(key: string): CacheEntry | undefined {
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
  }

  [inspect.custom](): string {
    return `MemoryTokenStore { size: ${this.#cache.size} }`;
  }

  toJSON(): unknown {
    return { kind: 'memory', size: this.#cache.size };
  }
}

/** Rolling-window counts per credential, in this process only. */
export class MemoryLedger implements IssuanceLedger {
  readonly #entries = new Map<string, Array<{ at: number; id: string }>>();
  #nextId = 0;

  reserve(key: string, now: number, limit: number, windowMs: number): LedgerDecision {
    const kept = (this.#entries.get(key) ?? []).filter((entry) => entry.at > now - windowMs);
    if (kept.length >= limit) {
      this.#entries.set(key, kept);
      return { allowed: false, retryAfterMs: Math.max(1, kept[0]!.at + windowMs - now) };
    }
    const reservation = String(++this.#nextId);
    kept.push({ at: now, id: reservation });
    this.#entries.set(key, kept);
    return { allowed: true, reservation };
  }

  confirm(key: string, reservation: string, now: number): void {
    const entry = this.#entries.get(key)?.find((candidate) => candidate.id === reservation);
    if (entry !== undefined) entry.at = Math.max(entry.at, now);
  }

  release(key: string, reservation: string): void {
    const entries = this.#entries.get(key);
    if (entries === undefined) return;
    const remaining = entries.filter((entry) => entry.id !== reservation);
    if (remaining.length === 0) this.#entries.delete(key);
    else this.#entries.set(key, remaining);
  }
}
