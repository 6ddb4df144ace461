/**
 * The call budget (API pacing): the contract every store implements, and the in-process one.
 *
 * One algorithm for every store, a sliding-window log that reserves future slots (docs/rate-limits.md):
 * each call is an entry `(id, at)` in the credential's log, sorted by `at`. A call is placed at the
 * earliest time `at` such that, among the entries ahead of it, the `requests`-th latest is at least
 * `perMs` older — so no window of `perMs` ever holds more than `requests` calls — and not before a
 * pause ends. Its wait is `at − now`. A waiter asks again when its time comes (the same `reserve` with
 * the same id): entries may have moved meanwhile (an answer confirmed later than its slot, a pause, an
 * abort), and only that second look lets it go. When an answer arrives, its entry moves to that time
 * (`confirm`): the provider counted the call somewhere between sending and answering, so counting it
 * from the answer keeps the next window clear of network jitter.
 */
import type { RateLimit } from '../base/rate-limit.js';

export type { RateLimit } from '../base/rate-limit.js';

/**
 * A credential's call budget, kept by a store: in this process (`memoryStore`), in the SQLite file
 * (every process of a host) or in Redis (a fleet, on the server's clock). Methods of a shared store may
 * return promises and may fail; the manager then paces with its in-process budget and says so.
 */
export interface CallBudget {
  /**
   * Places call `id` of credential `key` (moving it if it is there already: a waiter's second look) and
   * returns ms until its slot, 0 meaning now. When that wait is longer than `maxWaitMs`, the call is
   * not kept (taken out if it was there) and the result is the wait negated: a refusal, nothing held.
   */
  reserve(key: string, id: string, limit: RateLimit, maxWaitMs: number): number | Promise<number>;
  /** The answer to call `id` arrived: its entry moves to now (never back). */
  confirm(key: string, id: string): void | Promise<void>;
  /** Takes call `id` out (it was aborted before it was sent). */
  release(key: string, id: string): void | Promise<void>;
  /** The API answered 429: no call of `key` is placed before `pauseMs` from now (a longer pause already set stays). */
  pause(key: string, pauseMs: number): void | Promise<void>;
}

/** One credential's log: parallel arrays sorted by time, plus the end of its pause. */
class Log {
  readonly ats: number[] = [];
  readonly ids: string[] = [];
  pausedUntil = 0;
}

/**
 * Where call `at` goes among `ats` (sorted), counting only the first `ahead` entries: the earliest time
 * at or after `from` that leaves fewer than `requests` of them within `perMs` before it.
 */
export function placeAfter(ats: ArrayLike<number>, ahead: number, from: number, limit: RateLimit): number {
  if (ahead < limit.requests) return from;
  return Math.max(from, ats[ahead - limit.requests]! + limit.perMs);
}

/**
 * The in-process call budget of `memoryStore()`. Written by hand: the limiter libraries we looked at
 * (rate-limiter-flexible, bottleneck, limiter, p-throttle) count fixed windows or token buckets, or
 * hold the queue themselves; none places a reservation in a sliding log that a waiter can re-check,
 * confirm or give back, which the shared stores need and the memory store must match. The warm path
 * (a free slot) allocates nothing: two array pushes on arrays that keep their capacity.
 */
export class MemoryCallBudget implements CallBudget {
  readonly #logs = new Map<string, Log>();

  reserve(key: string, id: string, limit: RateLimit, maxWaitMs: number): number {
    const now = Date.now();
    let log = this.#logs.get(key);
    if (log === undefined) this.#logs.set(key, (log = new Log()));
    const { ats, ids } = log;
    // Entries out of every window that could still matter go first.
    let stale = 0;
    while (stale < ats.length && ats[stale]! <= now - limit.perMs) stale++;
    if (stale > 0) {
      ats.splice(0, stale);
      ids.splice(0, stale);
    }
    // A second look: the call was placed already; only the entries ahead of it count.
    let ahead = ats.length;
    if (ahead > 0 && ids[ahead - 1] !== id) {
      const index = ids.lastIndexOf(id);
      if (index >= 0) {
        const at = ats[index]!;
        ats.splice(index, 1);
        ids.splice(index, 1);
        ahead = upperBound(ats, at);
      }
    } else if (ahead > 0) {
      // It is the last entry: everything else is ahead of it.
      ats.pop();
      ids.pop();
      ahead = ats.length;
    }
    const at = placeAfter(ats, ahead, Math.max(now, log.pausedUntil), limit);
    const wait = at - now;
    if (wait > maxWaitMs) return -wait;
    insert(ats, ids, at, id);
    return wait;
  }

  confirm(key: string, id: string): void {
    const log = this.#logs.get(key);
    if (log === undefined) return;
    const index = log.ids.lastIndexOf(id);
    if (index < 0) return;
    const now = Date.now();
    if (log.ats[index]! >= now) return;
    log.ats.splice(index, 1);
    log.ids.splice(index, 1);
    insert(log.ats, log.ids, now, id);
  }

  release(key: string, id: string): void {
    const log = this.#logs.get(key);
    if (log === undefined) return;
    const index = log.ids.lastIndexOf(id);
    if (index < 0) return;
    log.ats.splice(index, 1);
    log.ids.splice(index, 1);
  }

  pause(key: string, pauseMs: number): void {
    let log = this.#logs.get(key);
    if (log === undefined) this.#logs.set(key, (log = new Log()));
    log.pausedUntil = Math.max(log.pausedUntil, Date.now() + pauseMs);
  }

  /** Forgets every log (the store's close). */
  clear(): void {
    this.#logs.clear();
  }
}

/** Index of the first entry later than `at`. */
function upperBound(ats: readonly number[], at: number): number {
  let low = 0;
  let high = ats.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (ats[middle]! <= at) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Inserts `(at, id)` keeping the order; at the end (the usual case) it is a push. */
function insert(ats: number[], ids: string[], at: number, id: string): void {
  if (ats.length === 0 || ats[ats.length - 1]! <= at) {
    ats.push(at);
    ids.push(id);
    return;
  }
  const index = upperBound(ats, at);
  ats.splice(index, 0, at);
  ids.splice(index, 0, id);
}
