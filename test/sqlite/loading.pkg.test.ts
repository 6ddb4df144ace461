/**
 * Issue 11: importing `tokenbroker` (or even `tokenbroker/sqlite`) never loads `node:sqlite`; only
 * calling sqliteStore() does — and then, on Node 22, its ExperimentalWarning is not printed, while
 * every other warning still is. Child processes on the built package, on whichever Node runs the suite.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dist = (path: string) => JSON.stringify(new URL(`../../dist/${path}`, import.meta.url).href);
const dir = mkdtempSync(join(tmpdir(), 'tokenbroker-loading-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs an ES module snippet in a new Node process. */
function node(script: string): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
}

const SQLITE_LOADED = 'process.moduleLoadList.some((name) => /\\bsqlite\\b/.test(name))';

describe('loading node:sqlite', () => {
  it('importing tokenbroker and tokenbroker/sqlite loads none of it; the first sqliteStore() does', () => {
    const result = node(`
      const loaded = [];
      await import(${dist('index.js')});
      loaded.push(${SQLITE_LOADED});
      const { sqliteStore } = await import(${dist('stores/sqlite/index.js')});
      loaded.push(${SQLITE_LOADED});
      const store = sqliteStore({ path: ${JSON.stringify(join(dir, 'tokens.sqlite'))} });
      loaded.push(${SQLITE_LOADED});
      await store.close();
      console.log(JSON.stringify(loaded));
    `);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual([false, false, true]);
  });

  it('prints no SQLite warning (Node 22 has one), and lets other warnings through', () => {
    const result = node(`
      const { sqliteStore } = await import(${dist('stores/sqlite/index.js')});
      await sqliteStore({ path: ${JSON.stringify(join(dir, 'warnings.sqlite'))} }).close();
      process.emitWarning('another warning', 'ExperimentalWarning');
    `);
    expect(result.status).toBe(0);
    expect(result.stderr).not.toContain('SQLite');
    expect(result.stderr).toContain('ExperimentalWarning: another warning');
  });
});
