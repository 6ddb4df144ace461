/**
 * Temporary private directories for SQLite store tests, removed after the test file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** A new 0700 directory under the system temp dir; `file()` names a fresh file in it. */
export function tempDirs(): { dir: () => string; file: (name?: string) => string } {
  const made: string[] = [];
  let files = 0;
  afterAll(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  });
  const dir = () => {
    const path = mkdtempSync(join(tmpdir(), 'tokenbroker-sqlite-'));
    made.push(path);
    return path;
  };
  let shared: string | undefined;
  return {
    dir,
    file: (name?: string) => join((shared ??= dir()), name ?? `tokens-${++files}.sqlite`),
  };
}

/** A logger that keeps what it is told. */
export function recordingLogger(): {
  warn: (object: Record<string, unknown>, message: string) => void;
  warnings: Array<{ object: Record<string, unknown>; message: string }>;
} {
  const warnings: Array<{ object: Record<string, unknown>; message: string }> = [];
  return { warn: (object, message) => warnings.push({ object, message }), warnings };
}
