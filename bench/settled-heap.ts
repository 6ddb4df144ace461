/**
 * The heap as the memory benches read it. Imports nothing, so it loads under Node's own type stripping
 * (bench/memory-child.ts, bench/memory-budget.ts run without tsx).
 */

/**
 * `heapUsed` after full GCs with pauses between them, so FinalizationRegistry clean-ups (undici's
 * Request registers one per request signal) run before the heap is read: otherwise garbage awaiting
 * them counts as kept. Needs `--expose-gc`.
 */
export async function settledHeap(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  for (let i = 0; i < 10; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return process.memoryUsage().heapUsed;
}
