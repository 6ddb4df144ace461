/**
 * Issue 20: the call budget's promise as a property. Whatever happens — new calls, waiters looking
 * again at their time (or late), answers confirming slots, aborts — the calls that were let go never
 * number more than `requests` in any `perMs` window.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryCallBudget } from '../../src/stores/call-budget.js';

afterEach(() => vi.useRealTimers());

const step = fc.oneof(
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 400 }) }),
  fc.record({ kind: fc.constant('call' as const), maxWaitMs: fc.integer({ min: 0, max: 3_000 }) }),
  fc.record({ kind: fc.constant('look' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('confirm' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }),
);

describe('the memory call budget (property)', () => {
  it('never lets more than `requests` calls go within any `perMs` window', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 50, max: 1_000 }), fc.array(step, { maxLength: 120 }), (requests, perMs, steps) => {
        vi.useFakeTimers({ now: 1_000_000 });
        const budget = new MemoryCallBudget();
        const limit = { requests, perMs };
        const waiting = new Map<string, number>(); // id → when it looks again
        const gone: string[] = [];
        const wentAt: number[] = [];
        let next = 0;
        const go = (id: string) => {
          wentAt.push(Date.now());
          gone.push(id);
        };
        for (const s of steps) {
          if (s.kind === 'advance') vi.advanceTimersByTime(s.ms);
          else if (s.kind === 'call') {
            const id = `c${next++}`;
            const wait = budget.reserve('k', id, limit, s.maxWaitMs);
            if (wait === 0) go(id);
            else if (wait > 0) waiting.set(id, Date.now() + wait);
          } else if (s.kind === 'look' && waiting.size > 0) {
            // A waiter whose time has come (or any, late or early: the budget must stay safe).
            const id = [...waiting.keys()][s.pick % waiting.size]!;
            waiting.delete(id);
            const wait = budget.reserve('k', id, limit, 3_000);
            if (wait === 0) go(id);
            else if (wait > 0) waiting.set(id, Date.now() + wait);
          } else if (s.kind === 'confirm' && gone.length > 0) budget.confirm('k', gone[s.pick % gone.length]!);
          else if (s.kind === 'abort' && waiting.size > 0) {
            const id = [...waiting.keys()][s.pick % waiting.size]!;
            waiting.delete(id);
            budget.release('k', id);
          }
        }
        vi.useRealTimers();
        const times = [...wentAt].sort((a, b) => a - b);
        for (let i = 0; i + requests < times.length; i++) expect(times[i + requests]! - times[i]!).toBeGreaterThanOrEqual(perMs);
      }),
      { numRuns: 300 },
    );
  });
});
