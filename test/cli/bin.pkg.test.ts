/**
 * The built command as users run it: `node dist/apps/cli/main.js …` in a child process (the vitest
 * globalSetup builds dist/ first), against an emulator started by the test.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { AP_CLIENT, emulatorEnv, lines } from './helpers.js';

const bin = fileURLToPath(new URL('../../dist/apps/cli/main.js', import.meta.url));

// The per-user token cache of these runs, instead of the developer's ~/.cache.
const cacheHome = mkdtempSync(join(tmpdir(), 'tokenbroker-bin-'));
afterAll(() => rmSync(cacheHome, { recursive: true, force: true }));

/** A clean environment: no TOKENBROKER_* leaking in from the developer's shell, a cache of its own. */
function childEnv(extra: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = { XDG_CACHE_HOME: cacheHome };
  for (const name of ['PATH', 'HOME', 'SYSTEMROOT', 'TMPDIR']) {
    const value = process.env[name];
    if (value !== undefined) base[name] = value;
  }
  return { ...base, ...extra };
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function collect(child: ChildProcessWithoutNullStreams, started: number, killAfterMs = 15_000): Promise<Exit> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

function tokenbroker(args: string[], env: Record<string, string>): Promise<Exit> {
  const started = Date.now();
  return collect(spawn(process.execPath, [bin, ...args], { env: childEnv(env) }), started);
}

let emulator: Emulator;
beforeAll(async () => {
  emulator = await startEmulator();
});
afterAll(() => emulator.close());

describe('the tokenbroker bin (child process)', () => {
  it('starts with a shebang', () => {
    expect(readFileSync(bin, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('token ap prints a masked token and exits 0 promptly', async () => {
    const result = await tokenbroker(['token', 'ap'], emulatorEnv(emulator));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const output = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(output).toMatchObject({ provider: 'alternative-payments', tokenType: 'Bearer' });
    expect(output.accessToken).toMatch(/^[0-9a-f]{4}…\(56 chars\)$/);
    // Nothing left holding the event loop: well under the 2 s safety net.
    expect(result.ms).toBeLessThan(1_900);
  });

  it('a wrong secret exits 3 with one line that contains no secret', async () => {
    const secret = 'not-the-secret-Q9+x/=';
    const result = await tokenbroker(['token', 'ap'], { ...emulatorEnv(emulator), TOKENBROKER_AP_CLIENT_SECRET: secret });
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(/^tokenbroker: Alternative Payments refused the client credentials/);
    expect(result.stderr).not.toContain(secret);
    expect(result.stderr).not.toContain(Buffer.from(`${AP_CLIENT.clientId}:${secret}`).toString('base64'));
  });

  it('--client-secret x is refused with a hint (exit 2), before any request', async () => {
    const before = emulator.stats().providers['alternative-payments'].tokenRequests;
    const result = await tokenbroker(['token', 'ap', '--client-secret', 'x-value-never-echoed'], emulatorEnv(emulator));
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toContain('refusing "--client-secret"');
    expect(result.stderr).toContain('TOKENBROKER_AP_CLIENT_SECRET');
    expect(result.stderr).not.toContain('x-value-never-echoed');
    expect(emulator.stats().providers['alternative-payments'].tokenRequests).toBe(before);
  });

  it('emulate starts, prints its URLs, serves, and exits 0 on SIGTERM', async () => {
    const started = Date.now();
    const child = spawn(process.execPath, [bin, 'emulate', '--port', '0'], { env: childEnv({}) });
    const exited = collect(child, started);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await expect.poll(() => output, { timeout: 10_000 }).toContain('Press Ctrl-C to stop.');
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
    expect(url).toBeDefined();
    expect(output).toContain(`TOKENBROKER_AUTOPAY_TOKEN_URL=${url}/autopay-auth/oauth/token`);

    // The child emulator answers, and `tokenbroker token` works against it from its own banner.
    const env = Object.fromEntries([...output.matchAll(/^ {2}export (\w+)=(.*)$/gm)].map(([, name, value]) => [name!, value!.replace(/^'(.*)'$/, '$1')]));
    const token = await tokenbroker(['token', 'autopay'], env);
    expect(token.code).toBe(0);
    const stats = (await (await fetch(`${url}/_emulator/stats`)).json()) as { providers: { autopay: { tokensIssued: number } } };
    expect(stats.providers.autopay.tokensIssued).toBe(1);

    child.kill('SIGTERM');
    const result = await exited;
    expect(result.signal).toBeNull();
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('emulator stopped');
    expect(result.stderr).toBe('');
  });
});
