/**
 * Issue 11, acceptance: the built `tokenbroker` bin, run as a script runs it — 25 times in a row
 * against the emulator, which bans a client past 20 tokens in 10 minutes. With the per-user cache:
 * 1 token, every run exits 0. With `--no-cache`: every run requests a token, and the client is
 * banned once it has taken more than 20 — the very failure the cache prevents. HOME and XDG_CACHE_HOME point at a temp dir.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { emulatorEnv } from './helpers.js';

const bin = fileURLToPath(new URL('../../dist/apps/cli/main.js', import.meta.url));
const RUNS = 25;

let emulator: Emulator;
let home: string;

beforeAll(async () => {
  emulator = await startEmulator({ ban: { maxTokens: 20, windowSeconds: 600 } });
  home = mkdtempSync(join(tmpdir(), 'tokenbroker-bin-cache-'));
});
afterAll(async () => {
  await emulator?.close();
  rmSync(home, { recursive: true, force: true });
});

/** One run of the bin; resolves with its exit code and output (never rejects on a non-zero exit). */
function tokenbroker(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const stats = () => emulator.stats().providers['alternative-payments'];

describe('the tokenbroker bin, run again and again', () => {
  it(`${RUNS} runs with the cache: 1 token issued, every run exits 0, all but the first from the cache`, async () => {
    emulator.reset();
    const env = { PATH: process.env.PATH ?? '', HOME: join(home, 'cached'), XDG_CACHE_HOME: join(home, 'cached', '.cache'), ...emulatorEnv(emulator) };
    const results = [];
    for (let run = 0; run < RUNS; run++) results.push(await tokenbroker(['token', 'ap'], env));
    // Code and stderr together, so a failing run shows what it said.
    expect(results.map(({ code, stderr }) => ({ code, stderr }))).toEqual(Array(RUNS).fill({ code: 0, stderr: '' }));
    const fromCache = results.map((result) => (JSON.parse(result.stdout) as { fromCache: boolean }).fromCache);
    expect(fromCache).toEqual([false, ...Array(RUNS - 1).fill(true)]);
    expect(stats().tokensIssued).toBe(1);
    expect(stats().tokenRequests).toBe(1);
  }, 120_000);

  it(`${RUNS} runs with --no-cache: every run requests a token, and past 20 tokens the client is banned`, async () => {
    emulator.reset();
    const env = { PATH: process.env.PATH ?? '', HOME: join(home, 'uncached'), XDG_CACHE_HOME: join(home, 'uncached', '.cache'), ...emulatorEnv(emulator) };
    const codes = [];
    for (let run = 0; run < RUNS; run++) codes.push((await tokenbroker(['token', 'ap', '--no-cache'], env)).code);
    expect(stats().tokenRequests).toBe(RUNS);
    // More than 20 tokens → banned: the 21st is issued, every later request is refused (403, exit 3).
    expect(codes.slice(0, 21)).toEqual(Array(21).fill(0));
    expect(codes.slice(21)).toEqual(Array(RUNS - 21).fill(3));
    console.info(`[bin cache] --no-cache: ${stats().tokenRequests} token requests, exit codes ${codes.join(',')}`);
  }, 120_000);
});
