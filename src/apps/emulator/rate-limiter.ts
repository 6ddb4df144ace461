/**
 * A sliding one-second window per key: at most `limit` admitted requests in any 1000 ms, like
 * Alternative Payments' "5 requests per second per API key". Refused requests do not use up the
 * allowance, so a client that backs off for a second gets through again.
 */
export class PerSecondRateLimiter {
  readonly #admittedAt = new Map<string, number[]>();

  /** True if the request may proceed (and counts it); false if it is over the limit. 0 disables. */
  admit(key: string, now: number, limit: number): boolean {
    if (limit === 0) return true;
    const windowStart = now - 1000;
    const recent = (this.#admittedAt.get(key) ?? []).filter((admittedAt) => admittedAt > windowStart);
    if (recent.length >= limit) {
      this.#admittedAt.set(key, recent);
      return false;
    }
    recent.push(now);
    this.#admittedAt.set(key, recent);
    return true;
  }

  /** When the oldest admitted request of `key` leaves the window, epoch ms (`now` when none is counted). */
  windowEndsAt(key: string, now: number): number {
    const oldest = this.#admittedAt.get(key)?.find((admittedAt) => admittedAt > now - 1000);
    return oldest === undefined ? now : oldest + 1000;
  }

  /** Forgets every window (part of `Emulator.reset`). */
  reset(): void {
    this.#admittedAt.clear();
  }
}
