/**
 * The program itself: help, version, usage errors, and `emulate` in-process.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { emulatorOptions } from '../../src/apps/cli/commands/emulate.js';
import { COMMANDS } from '../../src/apps/cli/main.js';
import { lines, runCli } from './helpers.js';

const packageVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('tokenbroker: help and version', () => {
  it('--help lists every command and the exit codes (exit 0, stdout)', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('Usage: tokenbroker');
    expect(result.stdout).toMatch(/token \[options\] <provider>/);
    expect(result.stdout).toMatch(/emulate \[options\]/);
    expect(result.stdout).toContain('Exit codes');
  });

  it.each([['token'], ['emulate']])('%s --help and help %s describe the command', async (command) => {
    const viaOption = await runCli([command, '--help']);
    const viaHelp = await runCli(['help', command]);
    expect(viaOption.code).toBe(0);
    expect(viaHelp.code).toBe(0);
    expect(viaOption.stdout).toBe(viaHelp.stdout);
    expect(viaOption.stdout).toContain(`Usage: tokenbroker ${command}`);
  });

  it('token --help lists the environment variables', async () => {
    const { stdout } = await runCli(['token', '--help']);
    for (const name of [
      'TOKENBROKER_AP_CLIENT_ID',
      'TOKENBROKER_AP_CLIENT_SECRET',
      'TOKENBROKER_AP_CLIENT_SECRET_FILE',
      'TOKENBROKER_AP_ENVIRONMENT',
      'TOKENBROKER_AP_BASE_URL',
      'TOKENBROKER_AUTOPAY_CLIENT_ID',
      'TOKENBROKER_AUTOPAY_CLIENT_SECRET',
      'TOKENBROKER_AUTOPAY_AUDIENCE',
      'TOKENBROKER_AUTOPAY_TOKEN_URL',
      'TOKENBROKER_AUTOPAY_API_BASE_URL',
    ]) {
      expect(stdout).toContain(name);
    }
  });

  it.each(['serve', 'token', 'cache', 'emulate', 'new-key', 'hash-key'])(
    '%s --help wraps its description by paragraph, never breaking a line mid-sentence (issue 23)',
    async (command) => {
      const { stdout } = await runCli([command, '--help']);
      const description = stdout.slice(stdout.indexOf('\n\n') + 2, stdout.search(/\n(Arguments|Options|Commands):/));
      // Commander wraps at the terminal's width (80 when it has none): a line that ends early while the
      // next word would have fitted was broken by a newline in the text, not by the wrapping.
      const width = process.stdout.columns ?? 80;
      for (const paragraph of description.split(/\n\s*\n/)) {
        const rows = paragraph.split('\n').filter((row) => row.trim() !== '');
        for (let i = 0; i < rows.length - 1; i++) {
          const nextWord = rows[i + 1]!.trim().split(/\s+/)[0]!;
          expect(rows[i]!.length + 1 + nextWord.length, `${command}: "${rows[i]}" / "${rows[i + 1]}"`).toBeGreaterThan(width);
        }
      }
    },
  );

  it('--version prints the package version', async () => {
    const result = await runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(packageVersion);
  });

  it('no arguments: help on stderr, exit 2', async () => {
    const result = await runCli([]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('Usage: tokenbroker');
  });

  it('an unknown command: one line, exit 2', async () => {
    const result = await runCli(['tokn']);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)[0]).toMatch(/^tokenbroker: unknown command 'tokn'/);
  });

  it('registers every subcommand from one list', () => {
    expect(COMMANDS.length).toBeGreaterThanOrEqual(2);
    for (const register of COMMANDS) expect(typeof register).toBe('function');
  });
});

describe('tokenbroker emulate (in-process)', () => {
  it('starts, prints its URLs, sample credentials and env lines, and stops with exit 0 on the signal', async () => {
    const stop = new AbortController();
    let stdout = '';
    const { run } = await import('../../src/apps/cli/main.js');
    const done = run(['emulate', '--port', '0', '--ap-token-lifetime', '120'], {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stdout += text) },
      env: {},
      signal: stop.signal,
    });
    await expect.poll(() => stdout, { timeout: 5_000 }).toContain('Press Ctrl-C to stop.');
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1];
    expect(url).toBeDefined();
    expect(stdout).toContain(`${url}/alternative-payments`);
    expect(stdout).toContain(`${url}/autopay-auth/oauth/token`);
    expect(stdout).toContain('ap-sample-client');
    expect(stdout).toContain('autopay-sample-secret-3b1f9c0e7d2a');
    expect(stdout).toContain(`export TOKENBROKER_AP_BASE_URL=${url}/alternative-payments`);
    expect(stdout).toContain('export TOKENBROKER_AP_CLIENT_SECRET=ap-sample-secret-K7+x/Q=9%z:w');
    expect(stdout).toContain('(tokens last 120 s)');

    const stats = await fetch(`${url}/_emulator/stats`);
    expect(stats.status).toBe(200);

    stop.abort();
    expect(await done).toBe(0);
    expect(stdout).toContain('emulator stopped');
    await expect(fetch(`${url}/_emulator/stats`)).rejects.toThrow();
  });

  it('exit 2 for bad options, naming them', async () => {
    const rate = await runCli(['emulate', '--error-rate', '2']);
    expect(rate.code).toBe(2);
    expect(rate.stderr).toContain('--error-rate');
    const host = await runCli(['emulate', '--host', '0.0.0.0']);
    expect(host.code).toBe(2);
    expect(host.stderr).toContain('loopback');
    const ban = await runCli(['emulate', '--no-ban', '--ban-max-tokens', '3']);
    expect(ban.code).toBe(2);
  });

  it('maps options to emulator knobs', () => {
    expect(emulatorOptions({ port: 0, host: '127.0.0.1', tokenLifetime: 60, autopayTokenLifetime: 30, ban: true, banMaxTokens: 5 })).toEqual({
      host: '127.0.0.1',
      port: 0,
      tokenLifetimeSeconds: { alternativePayments: 60, autopay: 30 },
      ban: { maxTokens: 5, windowSeconds: 600 },
    });
    expect(emulatorOptions({ port: 1, host: '::1', ban: false, errorRate: 0.5, latency: 10, apRateLimit: 0 })).toEqual({
      host: '::1',
      port: 1,
      ban: false,
      errorRate: 0.5,
      latencyMs: 10,
      alternativePaymentsRateLimitPerSecond: 0,
    });
  });
});
