import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // examples/*.test.ts are users' tests to copy; they run here so they cannot rot.
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Child-process tests (exit checks, fleets) spawn Node; keep the parallelism modest on 2 cores.
    pool: 'forks',
    maxWorkers: 2,
  },
});
