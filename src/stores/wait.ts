/**
 * The wait protocol of the shared stores: how a process that lost the lock race waits for the token
 * the lock's holder will store. Written once here; a store supplies only its look at the store (the
 * token and whether the lock is held, read together) and, if it has one, a wake-up on a new token.
 *
 * The protocol: look; a token stored after the wait began is the answer; once the lock is gone —
 * released, or expired because its holder died — whatever is stored (maybe nothing) is the answer, so
 * the manager can take over; otherwise sleep until woken or the next poll, and look again, until the
 * deadline (undefined), an abort (rejects with the signal's reason) or close() (undefined).
 */
import type { Token } from '../base/token.js';

/** One look at the store: the stored value, undecoded, and whether the credential's lock is held. */
export interface WaitLook {
  /** The stored value as the store keeps it, or undefined when none is stored. */
  readonly raw: string | undefined;
  /** Whether a process holds the credential's lock now. */
  readonly locked: boolean;
}

/** What a store supplies for one wait. */
export interface WaitSource {
  /** Reads the value and the lock together (one transaction); a failure rejects the wait. */
  look(): WaitLook | Promise<WaitLook>;
  /** The token in a stored value, or undefined when it cannot be read (the store warns). */
  decode(raw: string): Token | undefined;
  /**
   * Calls `wake` whenever another process may have stored a token (Redis: a notification on the
   * credential's channel); returns the function that stops it. Omitted where the store has no
   * notifications (SQLite): polling alone finds the token.
   */
  subscribe?(wake: () => void): () => void;
}

/** Something a waiter sleeps on until fired or until a timeout. A fire with nobody sleeping is kept. */
class Wakeup {
  #pending = false;
  #wake: (() => void) | undefined;

  /** Wakes the sleeper now, or the next one to sleep. */
  fire(): void {
    if (this.#wake !== undefined) this.#wake();
    else this.#pending = true;
  }

  /** Resolves when fired or after `ms`, whichever comes first. */
  sleep(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }
}

/** The waits of one store: runs the protocol, and ends every pending wait when the store closes. */
export class TokenWaits {
  readonly #pollIntervalMs: number;
  readonly #waiters = new Set<Wakeup>();
  #closed = false;

  /** @param pollIntervalMs how often a waiter looks again when nothing wakes it. */
  constructor(pollIntervalMs: number) {
    this.#pollIntervalMs = pollIntervalMs;
  }

  /**
   * Waits for another process's token (see the module comment for the protocol).
   * @returns the token, what is stored once the lock is gone (maybe nothing), or undefined after
   *   `timeoutMs` or on {@link close}.
   */
  async wait(source: WaitSource, timeoutMs: number, signal: AbortSignal): Promise<Token | undefined> {
    signal.throwIfAborted();
    if (this.#closed) return undefined;
    // A duration, so the monotonic clock: a wall clock stepped meanwhile must not stretch or cut it.
    const deadline = performance.now() + timeoutMs;
    const wakeup = new Wakeup();
    const onAbort = () => wakeup.fire();
    signal.addEventListener('abort', onAbort, { once: true });
    this.#waiters.add(wakeup);
    // Subscribe before the first look, so a token stored in between is not missed.
    const unsubscribe = source.subscribe?.(() => wakeup.fire());
    try {
      // The value there when the wait began is the one being replaced: never the answer while locked.
      let initial: string | undefined;
      for (let first = true; ; first = false) {
        const { raw, locked } = await source.look();
        signal.throwIfAborted();
        if (!first && raw !== undefined && raw !== initial) {
          const token = source.decode(raw);
          if (token !== undefined) return token;
        }
        if (!locked) return raw === undefined ? undefined : source.decode(raw);
        if (first) initial = raw;
        const remaining = deadline - performance.now();
        if (remaining <= 0 || this.#closed) return undefined;
        await wakeup.sleep(Math.min(remaining, this.#pollIntervalMs));
        signal.throwIfAborted();
        if (this.#closed) return undefined;
      }
    } finally {
      unsubscribe?.();
      this.#waiters.delete(wakeup);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Ends every pending wait with undefined, and every later one at once. */
  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiters) waiter.fire();
  }
}
