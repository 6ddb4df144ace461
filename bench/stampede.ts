/**
 * 2. Cold stampede: 10,000 calls started in the same tick on an empty cache. The server counts the
 * token requests; the clock stops when the last call has answered (or failed). Each library first runs
 * once on a throw-away instance so module loading and JIT warm-up are not charged to the stampede.
 */
import { ALL } from './subjects.js';
import type { RemoteTokenServer } from './token-server.js';

export interface StampedeResult {
  readonly name: string;
  readonly calls: number;
  readonly tokenRequests: number;
  readonly ms: number;
  readonly failures: number;
  readonly firstError?: string | undefined;
  readonly timedOut: boolean;
}

export const STAMPEDE_CALLS = 10_000;
const TIMEOUT_MS = 60_000;

export async function measureStampede(server: RemoteTokenServer): Promise<StampedeResult[]> {
  const results: StampedeResult[] = [];
  for (const subject of ALL) {
    const warm = subject.create(server.origin, server.tokenUrl);
    await warm.getToken();
    await warm.close();

    // Start from a clean slate: the previous library's keep-alive sockets closed, the counter at 0.
    await server.closeIdle();
    const instance = subject.create(server.origin, server.tokenUrl);
    await server.reset();
    let failures = 0;
    let firstError: string | undefined;
    const started = performance.now();
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < STAMPEDE_CALLS; i++) {
      calls.push(
        instance.getToken().catch((error: unknown) => {
          failures++;
          firstError ??= error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 160) : String(error);
        }),
      );
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      Promise.all(calls).then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    const ms = performance.now() - started;
    const tokenRequests = await server.tokenRequests();
    results.push({ name: subject.name, calls: STAMPEDE_CALLS, tokenRequests, ms, failures, firstError, timedOut });
    if (timedOut) await Promise.allSettled(calls);
    await instance.close();
  }
  return results;
}
