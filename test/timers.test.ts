/** The one deadline helper (base/timers.ts) that the broker and the Redis store use. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { withDeadline } from '../src/base/timers.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('withDeadline', () => {
  it('passes the value or the error through, and leaves no timer behind', async () => {
    await expect(withDeadline(Promise.resolve(7), 1_000, () => new Error('late'))).resolves.toBe(7);
    await expect(withDeadline(Promise.reject(new Error('own')), 1_000, () => new Error('late'))).rejects.toThrow('own');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with what onTimeout gives once the time is up, and a late rejection is not unhandled', async () => {
    let fail!: (error: Error) => void;
    const slow = new Promise<number>((_resolve, reject) => (fail = reject));
    const marker = new Error('timed out');
    const bounded = withDeadline(slow, 1_000, () => marker);
    const outcome = bounded.catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(999);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(await outcome).toBe(marker);
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    fail(new Error('too late'));
    vi.useRealTimers();
    await new Promise((resolve) => setImmediate(resolve));
    process.off('unhandledRejection', unhandled);
    expect(unhandled).not.toHaveBeenCalled();
  });
});
