/**
 * Watches the wall clock for steps back. Cached deadlines are wall-clock times, read on the hot path with
 * one `Date.now()`. A wall clock that jumps forward only makes tokens look older (a fresh one is fetched);
 * one that steps back would make them look younger than they are and keep them in service past their real
 * expiry. So, every few seconds and off the hot path, the wall clock is compared with the monotonic one,
 * and a step back is reported to the owner, who moves its deadlines back by as much.
 *
 * The interval holds its owner only weakly. Node's list of timers is a root of the heap: an interval that
 * held the owner (a manager, with its registrations, providers and cache) would keep a manager that was
 * dropped without `close()` alive for as long as the process runs. Here, once the owner has been
 * collected, the next check finds it gone and clears the interval.
 */

/** How often the wall clock is compared with the monotonic clock. */
export const CLOCK_CHECK_INTERVAL_MS = 5_000;
/** A step back smaller than this is drift, not a jump. */
export const CLOCK_JUMP_TOLERANCE_MS = 1_000;

/**
 * Calls `onStepBack(owner, jumpMs)` (`jumpMs` a negative number) when the wall clock steps back, for as
 * long as `owner` lives. `onStepBack` receives the owner rather than closing over it: a function that
 * captured the owner would hold it strongly again (pass a static or module-level function).
 */
export class ClockWatch<Owner extends object> {
  readonly #owner: WeakRef<Owner>;
  readonly #onStepBack: (owner: Owner, jumpMs: number) => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #offset = 0;

  constructor(owner: Owner, onStepBack: (owner: Owner, jumpMs: number) => void) {
    this.#owner = new WeakRef(owner);
    this.#onStepBack = onStepBack;
  }

  /** Starts watching; a second call does nothing. The timer never keeps the process (or the owner) alive. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#offset = Date.now() - performance.now();
    this.#timer = setInterval(() => this.#check(), CLOCK_CHECK_INTERVAL_MS);
    this.#timer.unref?.();
  }

  /** Stops watching for good. */
  stop(): void {
    clearInterval(this.#timer);
  }

  #check(): void {
    const owner = this.#owner.deref();
    if (owner === undefined) {
      // Collected without being closed: nobody is left to tell, and this watch is garbage too.
      this.stop();
      return;
    }
    const offset = Date.now() - performance.now();
    const jump = offset - this.#offset;
    this.#offset = offset;
    if (jump <= -CLOCK_JUMP_TOLERANCE_MS) this.#onStepBack(owner, jump);
  }
}
