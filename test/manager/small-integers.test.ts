/**
 * The per-credential millisecond fields — a registration's token lifetime, a cache entry's two offsets
 * from its token's issue time — are kept as V8 small integers, as cache-entry.ts says. Computed as the
 * difference of two epoch-ms numbers in optimised code they came out as 16-byte heap numbers: every
 * registration and about half the cache entries had one (fixture run before the fix: 3,000 of 3,000
 * and 1,600 of 3,000).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

it('registrations and cache entries keep their millisecond fields as small integers, not heap numbers', async () => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'test/helpers/fixtures/small-integers.ts'], { cwd: root, timeout: 60_000 });
  const counts = JSON.parse(stdout.trim().split('\n').pop()!) as Record<'Registration' | 'CacheEntry', { objects: number; heapNumbers: number }>;
  expect(counts.Registration.objects).toBe(3000);
  expect(counts.CacheEntry.objects).toBe(3000);
  expect(counts.Registration.heapNumbers).toBe(0);
  expect(counts.CacheEntry.heapNumbers).toBe(0);
}, 90_000);
