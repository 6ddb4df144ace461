/**
 * Issue 11, item 2: `tokenbroker token` caches per user, in-process against a real emulator. Runs
 * that share XDG_CACHE_HOME (or HOME) share one cache; `--no-cache`, refresh-ahead, `cache list`,
 * `cache clear`, and a cache that cannot be used.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { alternativePayments } from '../../src/index.js';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { tokenCachePath } from '../../src/apps/cli/cache-path.js';
import { sqliteStore } from '../../src/stores/sqlite/index.js';
import { AP_CLIENT, AUTOPAY_CLIENT, emulatorEnv, lines, runCli } from './helpers.js';

let emulator: Emulator;
let root: string;
let homes = 0;
const issued = (provider: 'alternative-payments' | 'autopay' = 'alternative-payments') => emulator.stats().providers[provider].tokensIssued;

beforeAll(async () => {
  emulator = await startEmulator();
  root = mkdtempSync(join(tmpdir(), 'tokenbroker-cli-cache-test-'));
});
afterAll(async () => {
  await emulator.close();
  rmSync(root, { recursive: true, force: true });
});
beforeEach(() => emulator.reset());

/** An environment with a cache directory of its own, shared by every run given it. */
function userEnv(): Record<string, string> {
  return { ...emulatorEnv(emulator), XDG_CACHE_HOME: join(root, `cache-${++homes}`) };
}

const json = (stdout: string) => JSON.parse(stdout) as Record<string, unknown>;

/** Puts `accessToken` in `env`'s user cache for the AP client as an hour-long token with 2 minutes left: inside the last 10 % of its life, still usable. */
async function cacheTokenInRefreshWindow(env: Record<string, string>, accessToken: string): Promise<void> {
  const provider = alternativePayments({ clientId: AP_CLIENT.clientId, clientSecret: AP_CLIENT.clientSecret, baseUrl: env.TOKENBROKER_AP_BASE_URL });
  const store = sqliteStore({ path: tokenCachePath(env) });
  const now = Date.now();
  await store.set(provider.cacheKey, { accessToken, tokenType: 'Bearer', issuedAt: now - 3_480_000, expiresAt: now + 120_000 }, 90_000);
  await store.close();
}

describe('tokenbroker token: the per-user cache', () => {
  it('a second run reuses the first run’s token: one token issued, fromCache says so', async () => {
    const env = userEnv();
    const first = await runCli(['token', 'ap', '--show-token'], env);
    const second = await runCli(['token', 'ap', '--show-token'], env);
    expect([first.code, second.code]).toEqual([0, 0]);
    expect([first.stderr, second.stderr]).toEqual(['', '']);
    expect(json(first.stdout).fromCache).toBe(false);
    expect(json(second.stdout)).toMatchObject({ fromCache: true, accessToken: json(first.stdout).accessToken });
    expect(issued()).toBe(1);
    const file = join(env.XDG_CACHE_HOME!, 'tokenbroker', 'tokens.sqlite');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(env.XDG_CACHE_HOME!, 'tokenbroker')).mode & 0o777).toBe(0o700);
  });

  it('--no-cache requests a token every run and touches no file', async () => {
    const env = userEnv();
    for (let run = 0; run < 3; run++) {
      const result = await runCli(['token', 'ap', '--no-cache'], env);
      expect(result.code).toBe(0);
      expect(json(result.stdout).fromCache).toBe(false);
    }
    expect(issued()).toBe(3);
    expect(existsSync(env.XDG_CACHE_HOME!)).toBe(false);
  });

  it('lives in $XDG_CACHE_HOME/tokenbroker, else $HOME/.cache/tokenbroker (a relative XDG_CACHE_HOME is ignored)', () => {
    expect(tokenCachePath({ XDG_CACHE_HOME: '/x/cache', HOME: '/home/u' })).toBe('/x/cache/tokenbroker/tokens.sqlite');
    expect(tokenCachePath({ XDG_CACHE_HOME: 'relative', HOME: '/home/u' })).toBe('/home/u/.cache/tokenbroker/tokens.sqlite');
    expect(tokenCachePath({ HOME: '/home/u' })).toBe('/home/u/.cache/tokenbroker/tokens.sqlite');
  });

  it('replaces a cached token that is in its refresh-ahead window before printing', async () => {
    const env = userEnv();
    await cacheTokenInRefreshWindow(env, 'old-token-nearly-expired-0123456789');
    const result = await runCli(['token', 'ap', '--show-token'], env);
    expect(result.code).toBe(0);
    expect(json(result.stdout)).toMatchObject({ fromCache: false });
    expect(json(result.stdout).accessToken).not.toBe('old-token-nearly-expired-0123456789');
    expect(issued()).toBe(1);
    const again = await runCli(['token', 'ap', '--show-token'], env);
    expect(json(again.stdout)).toMatchObject({ fromCache: true, accessToken: json(result.stdout).accessToken });
  });

  it('a refresh-ahead that fails prints the cached token, still usable (exit 0, fromCache)', async () => {
    const env = userEnv();
    await cacheTokenInRefreshWindow(env, 'cached-token-in-refresh-window-0123');
    emulator.configure({ errorRate: 1 });
    try {
      const result = await runCli(['token', 'ap', '--show-token'], env);
      expect(result.code).toBe(0);
      expect(json(result.stdout)).toMatchObject({ accessToken: 'cached-token-in-refresh-window-0123', fromCache: true });
      expect(emulator.stats().providers['alternative-payments'].tokenRequests).toBeGreaterThan(0);
    } finally {
      emulator.configure({ errorRate: 0 });
    }
  });

  it('a corrupt cache file: one warning line, moved aside, and the run succeeds', async () => {
    const env = userEnv();
    const path = tokenCachePath(env);
    mkdirSync(join(env.XDG_CACHE_HOME!, 'tokenbroker'), { recursive: true, mode: 0o700 });
    writeFileSync(path, 'garbage '.repeat(500), { mode: 0o600 });
    const result = await runCli(['token', 'ap'], env);
    expect(result.code).toBe(0);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(/^tokenbroker: warning: token cache .*moved it aside.*\(moved to .*\.corrupt-\d+\)/);
    expect((await runCli(['token', 'ap'], env)).stdout).toContain('"fromCache": true');
  });

  it('a cache file from a newer tokenbroker: one warning line, the run succeeds without the cache', async () => {
    const env = userEnv();
    const store = sqliteStore({ path: tokenCachePath(env) });
    await store.close();
    const { DatabaseSync } = process.getBuiltinModule('node:sqlite');
    const db = new DatabaseSync(tokenCachePath(env));
    db.exec('PRAGMA user_version = 7');
    db.close();
    const result = await runCli(['token', 'ap'], env);
    expect(result.code).toBe(0);
    expect(lines(result.stderr)).toEqual([expect.stringMatching(/^tokenbroker: warning: the token cache is not usable.*newer tokenbroker/)]);
    expect(json(result.stdout).fromCache).toBe(false);
  });

  it('a cache directory other users can open: exit 2 naming the chmod, and --no-cache still works', async () => {
    const env = userEnv();
    mkdirSync(join(env.XDG_CACHE_HOME!, 'tokenbroker'), { recursive: true });
    chmodSync(join(env.XDG_CACHE_HOME!, 'tokenbroker'), 0o755);
    const result = await runCli(['token', 'ap'], env);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([expect.stringContaining(`chmod 700 ${join(env.XDG_CACHE_HOME!, 'tokenbroker')}`)]);
    expect((await runCli(['token', 'ap', '--no-cache'], env)).code).toBe(0);
  });
});

describe('tokenbroker cache', () => {
  it('list: provider, credential, masked token and expiry — never a token or a secret', async () => {
    const env = userEnv();
    const ap = json((await runCli(['token', 'ap', '--show-token'], env)).stdout);
    const autopay = json((await runCli(['token', 'autopay', '--show-token'], env)).stdout);
    const result = await runCli(['cache', 'list'], env);
    expect(result.code).toBe(0);
    const listed = JSON.parse(result.stdout) as Array<Record<string, unknown>>;
    expect(listed).toEqual([
      {
        provider: 'alternative-payments',
        credential: expect.stringMatching(/^[\w-]{8}$/),
        accessToken: expect.stringMatching(/^.{4}…\(56 chars\)$/),
        expiresAt: ap.expiresAt,
        servedFor: expect.any(Number),
      },
      {
        provider: 'autopay',
        credential: expect.stringMatching(/^[\w-]{8}$/),
        accessToken: expect.stringMatching(/^eyJ.…/),
        expiresAt: autopay.expiresAt,
        servedFor: expect.any(Number),
      },
    ]);
    for (const secret of [ap.accessToken, autopay.accessToken, AP_CLIENT.clientSecret, AUTOPAY_CLIENT.clientSecret])
      expect(result.stdout).not.toContain(secret);
  });

  it('clear [provider]: deletes that provider’s tokens (alias ap), or all; the next run requests again', async () => {
    const env = userEnv();
    await runCli(['token', 'ap'], env);
    await runCli(['token', 'autopay'], env);
    expect(json((await runCli(['cache', 'clear', 'ap'], env)).stdout)).toEqual({ cleared: 1 });
    expect((JSON.parse((await runCli(['cache', 'list'], env)).stdout) as unknown[]).length).toBe(1);
    expect(json((await runCli(['token', 'ap'], env)).stdout).fromCache).toBe(false);
    expect(json((await runCli(['token', 'autopay'], env)).stdout).fromCache).toBe(true);
    expect(json((await runCli(['cache', 'clear'], env)).stdout)).toEqual({ cleared: 2 });
    expect((await runCli(['cache', 'list'], env)).stdout.trim()).toBe('[]');
    expect([issued('alternative-payments'), issued('autopay')]).toEqual([2, 1]);
  });

  it('with no cache file: list prints [] and clear clears nothing, creating no file; a bad provider is exit 2', async () => {
    const env = userEnv();
    expect((await runCli(['cache', 'list'], env)).stdout.trim()).toBe('[]');
    expect(json((await runCli(['cache', 'clear'], env)).stdout)).toEqual({ cleared: 0 });
    expect(existsSync(env.XDG_CACHE_HOME!)).toBe(false);
    // A long value may be a secret pasted in the wrong place: described, not repeated (a short id is named).
    const bad = await runCli(['cache', 'clear', 'hunter2-value-0a1b2c3d4e5f6a7b8c9d'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).not.toContain('hunter2-value');
  });
});
