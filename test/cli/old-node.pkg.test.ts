/**
 * Issue 23: on a Node.js older than `engines` (22.13) nothing falls back quietly. The built package
 * runs under the machine's own `node` (found on PATH outside npm's node_modules/.bin; this machine's
 * is 20): `sqliteStore()` throws a ConfigError naming Node.js 22.13, `serve` and `serve --check` exit 2
 * with that line, and `tokenbroker token` exits 2 with it before sending anything (`--no-cache` runs,
 * saying so). Skipped, with a line saying why, where the system Node is 22.13 or newer, or absent.
 * The version rule itself is tested on any Node.
 */
import { execFile, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator } from 'tokenbroker/emulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/base/errors.js';
import { isSupportedNode, requireSqliteRuntime } from '../../src/stores/sqlite/runtime.js';
import { baseConfig, ENV } from '../broker/helpers.js';
import { AP_CLIENT } from './helpers.js';

const MAIN = fileURLToPath(new URL('../../dist/apps/cli/main.js', import.meta.url));
const SQLITE = new URL('../../dist/stores/sqlite/index.js', import.meta.url).href;

/** The `node` a user's shell finds: the first on PATH that is not under node_modules (npm puts its own first). */
function systemNode(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '' || dir.includes('node_modules')) continue;
    const candidate = join(dir, 'node');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

const node = systemNode();
const version = node === undefined ? undefined : spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
const old = version !== undefined && !isSupportedNode(version);
if (!old) console.info(`[old-node] skipped: the system node is ${node === undefined ? 'absent' : `${version} (${node}), not older than 22.13`}`);

describe('the Node.js version rule', () => {
  it('refuses Node older than 22.13, and a Node without node:sqlite, with a ConfigError naming 22.13', () => {
    const ok = () => ({}) as never;
    const missing = () => {
      throw new Error('No such built-in module: node:sqlite');
    };
    for (const v of ['v20.20.2', 'v22.12.0', 'v18.0.0']) {
      const error = (() => {
        try {
          requireSqliteRuntime(v, ok);
        } catch (caught) {
          return caught;
        }
      })();
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain('Node.js 22.13 or newer');
      expect((error as Error).message).toContain(v);
    }
    expect(() => requireSqliteRuntime('v23.1.0', missing)).toThrow(/node:sqlite.*v23\.1\.0.*22\.13 or newer/);
    expect(() => requireSqliteRuntime('v22.13.0', ok)).not.toThrow();
    expect(() => requireSqliteRuntime('v24.21.0', ok)).not.toThrow();
    expect(() => requireSqliteRuntime()).not.toThrow(); // the Node running this suite
  });
});

describe.skipIf(!old)(`the built package on the system Node (${version ?? 'none'})`, () => {
  let emulator: Emulator;
  let dir: string;
  beforeAll(async () => {
    emulator = await startEmulator({ ban: false });
    dir = mkdtempSync(join(tmpdir(), 'tokenbroker-old-node-'));
  });
  afterAll(async () => {
    await emulator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the system node; asynchronously, so that the emulator in this process can answer it. */
  const run = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        node!,
        args,
        { encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH, HOME: dir, XDG_CACHE_HOME: join(dir, 'cache'), ...env } },
        (error, stdout, stderr) => resolve({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr }),
      );
    });

  it('sqliteStore() throws a ConfigError naming Node.js 22.13, and creates nothing', async () => {
    const path = join(dir, 'store', 'tokens.sqlite');
    const result = await run([
      '--input-type=module',
      '-e',
      `const { sqliteStore } = await import(${JSON.stringify(SQLITE)});
       try { sqliteStore({ path: ${JSON.stringify(path)} }); console.log('no error'); }
       catch (error) { console.log(error.name + ': ' + error.message); }`,
    ]);
    expect(result.stdout.trim()).toBe(
      `ConfigError: Invalid configuration: sqliteStore: the SQLite store needs Node.js 22.13 or newer (for node:sqlite); this is Node.js ${version}: upgrade Node.js`,
    );
    expect(existsSync(join(dir, 'store'))).toBe(false);
  });

  it('serve --check and serve exit 2 with that line', async () => {
    const file = join(dir, 'broker.json');
    const { store: _memory, ...config } = baseConfig(emulator);
    writeFileSync(file, JSON.stringify({ ...config, stateDir: join(dir, 'state') }));
    for (const args of [
      ['serve', '--check', '--config', file],
      ['serve', '--config', file],
    ]) {
      const result = await run([MAIN, ...args], ENV);
      expect(result.status, `${args.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(
        `tokenbroker: invalid configuration: broker.json: store: the SQLite store needs Node.js 22.13 or newer (for node:sqlite); this is Node.js ${version}: upgrade Node.js\n`,
      );
    }
    expect(existsSync(join(dir, 'state'))).toBe(false);
  });

  it('token ap exits 2 with that line before sending anything; --no-cache runs and says so', async () => {
    const env = {
      TOKENBROKER_AP_CLIENT_ID: AP_CLIENT.clientId,
      TOKENBROKER_AP_CLIENT_SECRET: AP_CLIENT.clientSecret,
      TOKENBROKER_AP_BASE_URL: emulator.alternativePaymentsBaseUrl,
    };
    const refused = await run([MAIN, 'token', 'ap'], env);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain(`token cache: the SQLite store needs Node.js 22.13 or newer (for node:sqlite); this is Node.js ${version}`);
    expect(refused.stderr).toContain('--no-cache');
    expect(emulator.stats().providers['alternative-payments'].tokenRequests).toBe(0);
    expect(existsSync(join(dir, 'cache'))).toBe(false);

    const uncached = await run([MAIN, 'token', 'ap', '--no-cache'], env);
    expect(uncached.status, uncached.stderr).toBe(0);
    expect(uncached.stderr).toBe(
      `tokenbroker: warning: Node.js ${version} is older than tokenbroker supports (22.13); running without the token cache, as --no-cache asks\n`,
    );
    expect(JSON.parse(uncached.stdout)).toMatchObject({ provider: 'alternative-payments', fromCache: false });
  });
});
