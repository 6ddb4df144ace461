/**
 * Issue 11, bad states: a read-only directory. The store cannot create its file (or its WAL beside
 * an existing one); tokens are then kept in this process's memory, with one warning, and the call
 * neither fails nor hangs. Root ignores permission bits, so as root the check runs in a child process
 * as `nobody`; otherwise as the current user.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';

const CLIENT = { clientId: 'read-only-client', clientSecret: 'read-only-secret-Zq8' };
const dist = (path: string) => new URL(`../../dist/${path}`, import.meta.url).href;
const asRoot = process.getuid?.() === 0;
const NOBODY = 65534;

// Two managers in one child: the first stores a token if it can, the second starts after it.
const SCRIPT = `
const { createTokenManager, alternativePayments } = await import(${JSON.stringify(dist('index.js'))});
const { sqliteStore } = await import(${JSON.stringify(dist('stores/sqlite/index.js'))});
const config = JSON.parse(process.argv[1]);
const warnings = [];
const logger = { debug() {}, info() {}, error() {}, warn: (object, message) => warnings.push(message + ' ' + JSON.stringify(object)) };
const tokens = createTokenManager({ providers: { ap: alternativePayments(config.provider) }, store: sqliteStore({ path: config.path }), logger });
const started = Date.now();
const token = await tokens.getToken('ap');
const again = await tokens.getToken('ap');
await tokens.close();
process.stdout.write(JSON.stringify({ ms: Date.now() - started, same: token.accessToken === again.accessToken, warnings, requests: tokens.stats().requestsSent }));
`;

let emulator: Emulator;
let base: string;

beforeAll(async () => {
  emulator = await startEmulator({ clients: [{ provider: 'alternative-payments', ...CLIENT }] });
  base = mkdtempSync(join(tmpdir(), 'tokenbroker-readonly-'));
  chmodSync(base, 0o755); // so that `nobody` can reach the directories inside
});
afterAll(async () => {
  await emulator?.close();
  rmSync(base, { recursive: true, force: true });
});

/** Runs the child (asynchronously: the emulator in this process must keep answering). */
async function runChild(path: string): Promise<{ ms: number; same: boolean; warnings: string[]; requests: number }> {
  const provider = { baseUrl: emulator.alternativePaymentsBaseUrl, ...CLIENT };
  const result = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', SCRIPT, JSON.stringify({ path, provider })], {
    encoding: 'utf8',
    timeout: 20_000,
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
  });
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as { ms: number; same: boolean; warnings: string[]; requests: number };
}

/** A directory the child's user owns, mode 0700 while it is prepared. */
function ownDir(name: string): string {
  const dir = join(base, name);
  mkdirSync(dir, { mode: 0o700 });
  if (asRoot) chownSync(dir, NOBODY, NOBODY);
  return dir;
}

describe('sqliteStore in a read-only directory', () => {
  it('cannot create its file: the token comes from memory, one warning, no hang', async () => {
    const dir = ownDir('empty');
    chmodSync(dir, 0o500);
    const result = await runChild(join(dir, 'tokens.sqlite'));
    expect(result.same).toBe(true);
    expect(result.requests).toBe(1);
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(/shared store unavailable.*cannot create or open it: EACCES \(a read-only directory/);
    expect(result.ms).toBeLessThan(10_000);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an existing token file in a directory that became read-only: still a token, at most one warning', async () => {
    const dir = ownDir('existing');
    const path = join(dir, 'tokens.sqlite');
    expect((await runChild(path)).warnings).toEqual([]); // writable: a token file with a token in it
    chmodSync(dir, 0o500);
    const result = await runChild(path);
    expect(result.same).toBe(true);
    expect(result.requests).toBeLessThanOrEqual(1);
    expect(result.warnings.length).toBeLessThanOrEqual(1);
    console.info(`[sqlite read-only] existing file, read-only directory: ${result.requests} request(s), warnings: ${result.warnings.join(' | ') || 'none'}`);
  });
});
