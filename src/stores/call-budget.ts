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

/**
 * One credential's log: parallel arrays sorted by time from `head` on (entries before it are gone: the
 * front is dropped by moving `head`, and the arrays are compacted once that dead part is large, so
 * dropping stays O(1) per call even at a high limit), the ids that may look again, and the pause.
 */
class Log {
  ats: number[] = [];
  ids: string[] = [];
  head = 0;
  /** Calls placed with a wait: only these come back for a second look. */
  readonly waiting = new Set<string>();
  pausedUntil = 0;

  /** Drops entries at or before `cutoff`. */
  prune(cutoff: number): void {
    const { ats } = this;
    let head = this.head;
    while (head < ats.length && ats[head]! <= cutoff) head++;
    this.head = head;
    if (head > 64 && head * 2 > ats.length) {
      this.ats = ats.slice(head);
      this.ids = this.ids.slice(head);
      this.head = 0;
    }
  }

  /** Takes out the entry of `id`; returns its time, or undefined when it is not there. */
  remove(id: string): number | undefined {
    const index = this.ids.lastIndexOf(id);
    if (index < this.head) return undefined;
    const at = this.ats[index]!;
    this.ats.splice(index, 1);
    this.ids.splice(index, 1);
    return at;
  }

  /** Inserts `(at, id)` keeping the order; at the end (the usual case) it is a push. */
  insert(at: number, id: string): void {
    const { ats, ids } = this;
    if (ats.length === this.head || ats[ats.length - 1]! <= at) {
      ats.push(at);
      ids.push(id);
      return;
    }
    const index = upperBound(ats, this.head, at);
    ats.splice(index, 0, at);
    ids.splice(index, 0, id);
  }
}

/**
 * Where a call goes, given the sorted times `ats` of which those before index `ahead` are ahead of it
 * (from index `head`): the earliest time at or after `from` that leaves fewer than `requests` of them
 * within `perMs` before it.
 */
export function placeAfter(ats: ArrayLike<number>, head: number, ahead: number, from: number, limit: RateLimit): number {
  if (ahead - head < limit.requests) return from;
  return Math.max(from, ats[ahead - limit.requests]! + limit.perMs);
}

/**
 * The in-process call budget of `memoryStore()`. Written by hand: the limiter libraries we looked at
 * (rate-limiter-flexible, bottleneck, limiter, p-throttle) count fixed windows or token buckets, or
 * hold the queue themselves; none places a reservation in a sliding log that a waiter can re-check,
 * confirm or give back, which the shared stores need and the memory store must match. The warm path
 * (a free slot) allocates nothing but the call's entry: pushes on arrays that keep their capacity.
 */
export class MemoryCallBudget implements CallBudget {
  readonly #logs = new Map<string, Log>();

  reserve(key: string, id: string, limit: RateLimit, maxWaitMs: number): number {
    const now = Date.now();
    let log = this.#logs.get(key);
    if (log === undefined) this.#logs.set(key, (log = new Log()));
    log.prune(now - limit.perMs);
    // A second look: the call was placed already; only the entries ahead of it count.
    let ahead = log.ats.length;
    if (log.waiting.size > 0 && log.waiting.delete(id)) {
      const at = log.remove(id);
      ahead = at === undefined ? log.ats.length : upperBound(log.ats, log.head, at);
    }
    const at = placeAfter(log.ats, log.head, ahead, Math.max(now, log.pausedUntil), limit);
    const wait = at - now;
    if (wait > maxWaitMs) return -wait;
    log.insert(at, id);
    if (wait > 0) log.waiting.add(id);
    return wait;
  }

  confirm(key: string, id: string): void {
    const log = this.#logs.get(key);
    if (log === undefined) return;
    const index = log.ids.lastIndexOf(id);
    if (index < log.head) return;
    const now = Date.now();
    if (log.ats[index]! >= now) return;
    if (index === log.ats.length - 1) {
      log.ats[index] = now; // still the latest: moving it keeps the order
      return;
    }
    log.remove(id);
    log.insert(now, id);
  }

  release(key: string, id: string): void {
    const log = this.#logs.get(key);
    if (log === undefined) return;
    log.waiting.delete(id);
    log.remove(id);
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

/** Index of the first entry later than `at`, from `head` on. */
function upperBound(ats: readonly number[], head: number, at: number): number {
  let low = head;
  let high = ats.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (ats[middle]! <= at) low = middle + 1;
    else high = middle;
  }
  return low;
}
