/**
 * Watches the wall clock for steps back. Cached deadlines are wall-clock times, read on the hot path with
 * one `Date.now()`. A wall clock that jumps forward only makes tokens look older (a fresh one is fetched);
 * one that steps back would make them look younger than they are and keep them in service past their real
 * expiry. So, every few seconds and off the hot path, the wall clock is compared with the monotonic one,
 * and a step back is reported to the owner, who moves its deadlines back by as much.
 */

/** How often the wall clock is compared with the monotonic clock. */
export const CLOCK_CHECK_INTERVAL_MS = 5_000;
/** A step back smaller than this is drift, not a jump. */
export const CLOCK_JUMP_TOLERANCE_MS = 1_000;

/** Calls `onStepBack(jumpMs)` (a negative number) when the wall clock steps back. */
export class ClockWatch {
  readonly #onStepBack: (jumpMs: number) => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #offset = 0;

  constructor(onStepBack: (jumpMs: number) => void) {
    this.#onStepBack = onStepBack;
  }

  /** Starts watching; a second call does nothing. The timer never keeps the process alive. */
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
    const offset = Date.now() - performance.now();
    const jump = offset - this.#offset;
    this.#offset = offset;
    if (jump <= -CLOCK_JUMP_TOLERANCE_MS) this.#onStepBack(jump);
  }
}
