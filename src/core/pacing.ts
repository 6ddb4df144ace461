/**
 * Pacing: each API call of a rate-limited credential takes a slot of the credential's call budget
 * before it is sent (docs/rate-limits.md). The budget lives in the store (this process, the host, the
 * fleet); this module is the caller's side: the wait, the deadline, aborts, the in-process queue, a 429
 * turned into a pause, and the fall-back to this process's budget when a shared store fails.
 *
 * Order within a process is arrival order: calls reserve in the order they arrive (a shared store's
 * commands go out in order on one connection), so earlier calls hold earlier slots.
 */
import { randomBytes } from 'node:crypto';
import { RateLimitedError } from '../base/errors.js';
import { parseRetryAfter } from '../base/headers.js';
import type { LogFn } from '../base/logger.js';
import type { CallBudget, RateLimit } from '../stores/call-budget.js';
import type { TokenStore } from '../stores/types.js';

/** The pacing counters of one provider id (fields of its registration's counters). */
export interface PaceCounters {
  /** Total ms calls waited for a slot. */
  paceWaitMs: number;
  /** Calls refused because their slot was past `maxWaitMs`: never sent. */
  paceRefused: number;
  /** 429 answers from the provider's API. */
  apiRateLimited: number;
}

/** What the pacer needs to know of a call's credential: the manager's registration is one. */
export interface PacedCall extends PaceCounters {
  /** The provider id, for errors. */
  readonly id: string;
  /**
   * The credential's budget key: its identity without its secret (`budgetKeyOf`), so a rotated secret
   * keeps the budget the provider counts for the client.
   */
  readonly budgetKey: string;
  /** The provider's rate limit; undefined: not paced. */
  readonly limit?: RateLimit | undefined;
}

/** After a shared store failed, calls use this process's budget for this long before trying it again. */
const SHARED_RETRY_AFTER_MS = 1_000;
/** Pauses longer than this (a confused `Retry-After`) are cut to it: an hour. */
const LONGEST_PAUSE_MS = 60 * 60 * 1000;

/** Reserves slots, waits for them, and reports 429s. One per manager. */
export class Pacer {
  readonly #local: CallBudget;
  readonly #shared: CallBudget | undefined;
  readonly #log: LogFn;
  /** Unique per process, so ids never collide in a shared log. */
  readonly #prefix = randomBytes(6).toString('base64url') + ':';
  #next = 0;
  #sharedFailedAt = Number.NEGATIVE_INFINITY;
  #warned = false;
  /** Calls of this process waiting for their slot, per key, in arrival order. */
  readonly #waiting = new Map<string, Set<Waiter>>();

  /** @param maxWaitMs the longest a call may wait for its slot, 429 pauses included. */
  constructor(
    local: CallBudget,
    shared: CallBudget | undefined,
    readonly maxWaitMs: number,
    log: LogFn,
    /** The credential of a provider id, looked up per call (a replaced provider's limit applies); undefined when unknown. */
    readonly callOf: (id: string) => PacedCall | undefined = () => undefined,
  ) {
    this.#local = local;
    this.#shared = shared;
    this.#log = log;
  }

  /**
   * The pacer of a manager: the store's call budget when it is shared, else this process's. A shared
   * store without one (possible from JavaScript) is refused at construction when any provider is paced
   * (shared-budget.ts), so here it can only mean nothing is paced: no warning is due.
   */
  static forStores(local: CallBudget, store: TokenStore | undefined, maxWaitMs: number, log: LogFn, lookup: (id: string) => PacedCall | undefined): Pacer {
    const shared = store?.shared === true ? (store.callBudget as CallBudget | undefined) : undefined;
    return new Pacer(local, shared, maxWaitMs, log, lookup);
  }

  /**
   * `tokens.acquire`: a slot for a call tokenbroker does not send, so whose answer it never sees: the
   * slot counts from a tenth of the window after the grant (at most 100 ms), standing in for the answer.
   */
  async grant(call: PacedCall, signal: AbortSignal | undefined): Promise<void> {
    const limit = call.limit;
    if (limit === undefined) return;
    const slot = this.acquire(call, limit, Date.now() + this.maxWaitMs, signal);
    this.confirmLater(call, typeof slot === 'string' ? slot : await slot, Math.min(100, limit.perMs / 10));
  }

  /** `tokens.reportRateLimited`: a 429 pauses a paced credential; any 429 is counted; other statuses are ignored. */
  async report(call: PacedCall, response: { status: number; headers: Headers }): Promise<void> {
    if (response.status !== 429) return;
    if (call.limit === undefined) call.apiRateLimited++;
    else await this.rateLimited(call, call.limit, response);
  }

  /**
   * Takes a slot for `call`: its id once the slot is reached (synchronously when the in-process
   * budget has one free), or a refusal ({@link RateLimitedError}, nothing held) when the slot is after
   * `deadline` (epoch ms), or the signal's reason when it aborts first.
   */
  acquire(call: PacedCall, limit: RateLimit, deadline: number, signal: AbortSignal | undefined): string | Promise<string> {
    signal?.throwIfAborted();
    const id = this.#prefix + String(++this.#next);
    const budget = this.#budget();
    if (budget === this.#local) {
      const wait = this.#local.reserve(call.budgetKey, id, limit, Math.max(0, deadline - Date.now())) as number;
      if (wait === 0) return id;
      if (wait < 0) throw this.#refused(call, limit, -wait);
      return this.#waitFor(budget, call, limit, id, wait, deadline, signal);
    }
    return this.#acquireShared(call, limit, id, deadline, signal);
  }

  /**
   * For a slot taken with `tokens.acquire`, whose answer tokenbroker never sees: the slot counts from
   * `afterMs` later (a guess at the answer time), so the next window is not opened by a call still in
   * flight. The timer does not keep the process alive.
   */
  confirmLater(call: PacedCall, id: string, afterMs: number): void {
    setTimeout(() => this.confirm(call, id), afterMs).unref();
  }

  /** The answer to call `id` arrived: its slot now counts from this moment. Never delays the caller. */
  confirm(call: PacedCall, id: string): void {
    this.#quietly(call, (budget) => budget.confirm(call.budgetKey, id));
  }

  /**
   * The API answered 429: pauses the credential's budget (every process sharing the store) for what the
   * answer says — `Retry-After`, else `x-ratelimit-reset`, else one window of the limit.
   */
  async rateLimited(call: PacedCall, limit: RateLimit, response: { status: number; headers: Headers }): Promise<number> {
    call.apiRateLimited++;
    const pauseMs = Math.min(LONGEST_PAUSE_MS, pauseFor(response.headers, limit.perMs));
    const key = call.budgetKey;
    // This process's budget too: should the shared store fail later, this process still knows.
    await this.#local.pause(key, pauseMs);
    const shared = this.#budget();
    if (shared !== this.#local) {
      try {
        await shared.pause(key, pauseMs);
        this.#recovered();
      } catch (error) {
        this.#sharedFailed(error);
      }
    }
    return pauseMs;
  }

  async #acquireShared(call: PacedCall, limit: RateLimit, id: string, deadline: number, signal: AbortSignal | undefined): Promise<string> {
    let budget = this.#shared!;
    let wait: number;
    const key = call.budgetKey;
    try {
      wait = await budget.reserve(key, id, limit, Math.max(0, deadline - Date.now()));
      this.#recovered();
    } catch (error) {
      this.#sharedFailed(error);
      budget = this.#local;
      wait = this.#local.reserve(key, id, limit, Math.max(0, deadline - Date.now())) as number;
    }
    signal?.throwIfAborted();
    if (wait === 0) return id;
    if (wait < 0) throw this.#refused(call, limit, -wait);
    return this.#waitFor(budget, call, limit, id, wait, deadline, signal);
  }

  /** Sleeps until the slot, then looks again (entries may have moved: an answer, a pause, an abort). */
  async #waitFor(
    budget: CallBudget,
    call: PacedCall,
    limit: RateLimit,
    id: string,
    firstWait: number,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const started = Date.now();
    // Read once: the key is sliced from the cache key on each read.
    const key = call.budgetKey;
    const waiter = new Waiter();
    let queue = this.#waiting.get(key);
    if (queue === undefined) this.#waiting.set(key, (queue = new Set()));
    queue.add(waiter);
    let wait = firstWait;
    try {
      for (;;) {
        await waiter.sleep(wait, signal);
        const maxWaitMs = Math.max(0, deadline - Date.now());
        try {
          wait = await budget.reserve(key, id, limit, maxWaitMs);
        } catch (error) {
          if (budget === this.#local) throw error;
          // The shared store failed mid-wait: this process's budget takes the call from here.
          this.#sharedFailed(error);
          budget = this.#local;
          wait = this.#local.reserve(key, id, limit, maxWaitMs) as number;
        }
        if (wait === 0) return id;
        if (wait < 0) throw this.#refused(call, limit, -wait);
      }
    } catch (error) {
      if (signal?.aborted === true && error === signal.reason) {
        // The caller settles at once; its place goes back, then the next caller of this process looks
        // again at once to take it.
        queue.delete(waiter);
        const next = queue.values().next().value;
        void Promise.resolve(budget.release(key, id))
          .catch(() => {})
          .then(() => next?.wake());
      }
      throw error;
    } finally {
      queue.delete(waiter);
      if (queue.size === 0 && this.#waiting.get(key) === queue) this.#waiting.delete(key);
      call.paceWaitMs += Date.now() - started;
    }
  }

  #refused(call: PacedCall, limit: RateLimit, waitMs: number): RateLimitedError {
    call.paceRefused++;
    return new RateLimitedError(
      `API calls of "${call.id}" are paced at ${limit.requests} per ${limit.perMs} ms; the next slot is ${Math.ceil(waitMs)} ms away, ` +
        `past the call's deadline (maxWaitMs ${this.maxWaitMs}); the call was not sent`,
      { provider: call.id, retryAfterMs: Math.ceil(waitMs) },
    );
  }

  /** The shared budget, unless it failed within the last second; else this process's. */
  #budget(): CallBudget {
    if (this.#shared === undefined || Date.now() - this.#sharedFailedAt < SHARED_RETRY_AFTER_MS) return this.#local;
    return this.#shared;
  }

  #quietly(call: PacedCall, op: (budget: CallBudget) => void | Promise<void>): void {
    const budget = this.#budget();
    try {
      const done = op(budget);
      if (done !== undefined && budget !== this.#local)
        done.then(
          () => this.#recovered(),
          (error: unknown) => this.#sharedFailed(error),
        );
    } catch (error) {
      if (budget !== this.#local) this.#sharedFailed(error);
      else throw error;
    }
  }

  #sharedFailed(error: unknown): void {
    this.#sharedFailedAt = Date.now();
    if (this.#warned) return;
    this.#warned = true;
    const reason = error instanceof Error ? { name: error.name, message: error.message } : { message: String(error) };
    this.#log('warn', { error: reason }, "the shared store's call budget failed; API calls are paced by this process alone until it answers again");
  }

  #recovered(): void {
    if (!this.#warned) return;
    this.#warned = false;
    this.#log('info', {}, "the shared store's call budget answers again; API calls are paced across processes");
  }
}

/**
 * How long a 429 pauses the credential: `Retry-After` (seconds or a date), else `x-ratelimit-reset`
 * (a UNIX time in seconds, Autopay's and Auth0's), else `defaultMs` (one window of the limit: whatever
 * window the provider counts in has then moved on).
 */
export function pauseFor(headers: Headers, defaultMs: number): number {
  const now = Date.now();
  const retryAfter = parseRetryAfter(headers.get('retry-after'), now);
  if (retryAfter !== undefined) return retryAfter;
  const reset = headers.get('x-ratelimit-reset');
  if (reset !== null && /^\d+(\.\d+)?$/.test(reset.trim())) return Math.max(0, Number(reset) * 1000 - now);
  return defaultMs;
}

/** A sleep that an abort ends (rejecting with its reason) and {@link wake} cuts short. */
class Waiter {
  #wake: (() => void) | undefined;

  wake(): void {
    this.#wake?.();
  }

  sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#wake = undefined;
      };
      const onAbort = (): void => {
        done();
        reject(signal!.reason);
      };
      const timer = setTimeout(() => {
        done();
        resolve();
      }, ms);
      this.#wake = () => {
        done();
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
