import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string): string => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

/**
 * Two projects. `unit` runs from source: no build, so one test file runs in about its own time.
 * `package` runs what users get — the built dist/ (the bin, child processes, examples that import
 * `tokenbroker` by name) — and builds it once in its global setup. A test is a package test by where
 * or how it is named, never by a list kept here: a file under `test/package/`, or one named
 * `*.pkg.test.ts` beside the unit tests of its area (CONTRIBUTING.md).
 */
const PACKAGE_TESTS = ['test/package/**/*.test.ts', 'test/**/*.pkg.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Child-process tests (exit checks, fleets) spawn Node; keep the parallelism modest on 2 cores.
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        resolve: {
          // Tests that import the package by name get the source, like every other unit test.
          alias: [
            { find: /^tokenbroker$/, replacement: src('index.ts') },
            { find: /^tokenbroker\/redis$/, replacement: src('stores/redis/index.ts') },
            { find: /^tokenbroker\/sqlite$/, replacement: src('stores/sqlite/index.ts') },
            { find: /^tokenbroker\/testing$/, replacement: src('stores/conformance/index.ts') },
            { find: /^tokenbroker\/(emulator|broker)$/, replacement: src('apps/$1/index.ts') },
          ],
        },
        test: {
          name: 'unit',
          // examples/*.test.ts are users' tests to copy; they run here so they cannot rot.
          include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
          exclude: PACKAGE_TESTS,
        },
      },
      {
        extends: true,
        test: {
          name: 'package',
          include: PACKAGE_TESTS,
          globalSetup: ['test/global-setup.ts'],
        },
      },
    ],
  },
});
