/**
 * `tokenbroker token`, in-process against a real emulator: output, masking, every exit code, and
 * that no secret is ever printed.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { maskToken } from '../../src/apps/cli/commands/token.js';
import { AP_CLIENT, AUTOPAY_CLIENT, emulatorEnv, lines, runCli } from './helpers.js';

let emulator: Emulator;
let env: Record<string, string>;
let dir: string;

beforeAll(async () => {
  emulator = await startEmulator();
  env = emulatorEnv(emulator);
  dir = await mkdtemp(join(tmpdir(), 'tokenbroker-cli-'));
});
afterAll(async () => {
  await emulator.close();
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  emulator.configure({ force429: { count: 0 }, errorRate: 0 });
  emulator.reset();
});

/** Asserts the one-line error contract: exactly one line, prefixed, no secret, no stack. */
function expectOneLineError(stderr: string, ...secrets: string[]): string {
  const errorLines = lines(stderr);
  expect(errorLines).toHaveLength(1);
  expect(errorLines[0]).toMatch(/^tokenbroker: /);
  expect(stderr).not.toMatch(/\n\s+at /);
  for (const secret of secrets) expect(stderr).not.toContain(secret);
  return errorLines[0]!;
}

describe('tokenbroker token: success', () => {
  it('prints Alternative Payments token JSON with the token masked (exit 0)', async () => {
    const result = await runCli(['token', 'ap'], env);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const output = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(output).toEqual({
      provider: 'alternative-payments',
      tokenType: 'Bearer',
      expiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      expiresIn: expect.any(Number),
      accessToken: expect.stringMatching(/^[0-9a-f]{4}…\(56 chars\)$/),
      fromCache: false,
    });
    expect(output.expiresIn).toBeGreaterThan(3590);
    expect(output.expiresIn).toBeLessThanOrEqual(3600);
    expect(Date.parse(output.expiresAt as string)).toBeGreaterThan(Date.now() + 3_590_000);
    expect(emulator.stats().providers['alternative-payments'].tokensIssued).toBe(1);
  });

  it('accepts the alias alternative-payments', async () => {
    const result = await runCli(['token', 'alternative-payments'], env);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ provider: 'alternative-payments' });
  });

  it('prints an Autopay token with its scope', async () => {
    const result = await runCli(['token', 'autopay'], env);
    expect(result.code).toBe(0);
    const output = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(output).toMatchObject({ provider: 'autopay', tokenType: 'Bearer', scope: 'customer_club' });
    expect(output.accessToken).toMatch(/^eyJ.…\(\d+ chars\)$/);
    expect(output.expiresIn).toBeGreaterThan(86_300);
  });

  it('--show-token prints the whole token, and it works on the API', async () => {
    const result = await runCli(['token', 'ap', '--show-token'], env);
    expect(result.code).toBe(0);
    const { accessToken } = JSON.parse(result.stdout) as { accessToken: string };
    expect(accessToken).toMatch(/^[0-9a-f]{56}$/);
    const response = await fetch(`${emulator.alternativePaymentsBaseUrl}/customers?limit=1`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(response.status).toBe(200);
  });

  it('reads the secret from TOKENBROKER_AP_CLIENT_SECRET_FILE (trailing newline dropped)', async () => {
    const file = join(dir, 'ap-secret');
    await writeFile(file, `${AP_CLIENT.clientSecret}\n`);
    const { TOKENBROKER_AP_CLIENT_SECRET: _, ...rest } = env;
    const result = await runCli(['token', 'ap'], { ...rest, TOKENBROKER_AP_CLIENT_SECRET_FILE: file });
    expect(result.code).toBe(0);
  });

  it('masks short tokens completely', () => {
    expect(maskToken('abcdefghijklmnopqrstuvwxyz')).toBe('abcd…(26 chars)');
    expect(maskToken('short-token')).toBe('…(11 chars)');
  });
});

describe('tokenbroker token: exit codes', () => {
  it('3 for a wrong Alternative Payments secret: one line, no secret', async () => {
    const secret = 'wrong-secret-Zq81+/=';
    const result = await runCli(['token', 'ap'], { ...env, TOKENBROKER_AP_CLIENT_SECRET: secret });
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    const line = expectOneLineError(result.stderr, secret, Buffer.from(`${AP_CLIENT.clientId}:${secret}`).toString('base64'));
    expect(line).toContain('refused the client credentials');
    expect(line).toContain('TOKENBROKER_AP_CLIENT_SECRET');
  });

  it('3 for a wrong Autopay secret', async () => {
    const secret = 'wrong-autopay-secret-77';
    const result = await runCli(['token', 'autopay'], { ...env, TOKENBROKER_AUTOPAY_CLIENT_SECRET: secret });
    expect(result.code).toBe(3);
    expect(expectOneLineError(result.stderr, secret)).toContain('Autopay refused the client credentials (HTTP 401)');
  });

  it('3 for an Autopay audience the client is not enabled for', async () => {
    const result = await runCli(['token', 'autopay'], { ...env, TOKENBROKER_AUTOPAY_AUDIENCE: 'https://other.example' });
    expect(result.code).toBe(3);
    expectOneLineError(result.stderr, AUTOPAY_CLIENT.clientSecret);
  });

  it('2 when a variable is missing, naming it', async () => {
    const { TOKENBROKER_AP_CLIENT_ID: _, ...rest } = env;
    const result = await runCli(['token', 'ap'], rest);
    expect(result.code).toBe(2);
    expect(expectOneLineError(result.stderr, AP_CLIENT.clientSecret)).toContain('TOKENBROKER_AP_CLIENT_ID: is not set');
  });

  it('2 when the secret is missing, with the alternatives', async () => {
    const result = await runCli(['token', 'autopay'], { TOKENBROKER_AUTOPAY_CLIENT_ID: 'x' });
    expect(result.code).toBe(2);
    expect(expectOneLineError(result.stderr)).toContain('TOKENBROKER_AUTOPAY_CLIENT_SECRET_FILE');
  });

  it('2 for a bad URL or environment, naming the variable and not the secret', async () => {
    const result = await runCli(['token', 'ap'], { ...env, TOKENBROKER_AP_BASE_URL: 'http://example.com/ap' });
    expect(result.code).toBe(2);
    expect(expectOneLineError(result.stderr, AP_CLIENT.clientSecret)).toContain('TOKENBROKER_AP_BASE_URL: must use https://');
    const environment = await runCli(['token', 'ap'], { ...env, TOKENBROKER_AP_BASE_URL: '', TOKENBROKER_AP_ENVIRONMENT: 'staging' });
    expect(environment.code).toBe(2);
    expect(environment.stderr).toContain('TOKENBROKER_AP_ENVIRONMENT');
  });

  it('2 for an unreadable secret file', async () => {
    const { TOKENBROKER_AP_CLIENT_SECRET: _, ...rest } = env;
    const result = await runCli(['token', 'ap'], { ...rest, TOKENBROKER_AP_CLIENT_SECRET_FILE: join(dir, 'missing') });
    expect(result.code).toBe(2);
    expect(expectOneLineError(result.stderr)).toContain('ENOENT');
  });

  it('4 when the provider cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const result = await runCli(['token', 'ap'], { ...env, TOKENBROKER_AP_BASE_URL: `http://127.0.0.1:${port}/ap` });
    expect(result.code).toBe(4);
    expectOneLineError(result.stderr, AP_CLIENT.clientSecret);
  });

  it('4 when the provider keeps answering 429', async () => {
    emulator.configure({ force429: { count: 10 } });
    const result = await runCli(['token', 'autopay'], env);
    expect(result.code).toBe(4);
    expect(expectOneLineError(result.stderr, AUTOPAY_CLIENT.clientSecret)).toMatch(/429|rate/i);
  });

  it('4 when the provider keeps failing with 503', async () => {
    emulator.configure({ errorRate: 1 });
    const result = await runCli(['token', 'ap'], env);
    expect(result.code).toBe(4);
    expectOneLineError(result.stderr, AP_CLIENT.clientSecret);
  });

  it('1 for an unusable token response', async () => {
    const server: Server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"token_type":"bearer"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const result = await runCli(['token', 'ap'], { ...env, TOKENBROKER_AP_BASE_URL: `http://127.0.0.1:${port}` });
      expect(result.code).toBe(1);
      expect(expectOneLineError(result.stderr, AP_CLIENT.clientSecret)).toContain('access_token');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('130 when interrupted before the token arrives', async () => {
    emulator.configure({ latencyMs: 5_000 });
    try {
      const stop = new AbortController();
      setTimeout(() => stop.abort(new Error('SIGINT')), 200);
      const started = Date.now();
      const result = await runCli(['token', 'ap'], env, stop.signal);
      expect(result.code).toBe(130);
      expect(Date.now() - started).toBeLessThan(3_000);
      expectOneLineError(result.stderr);
    } finally {
      emulator.configure({ latencyMs: 0 });
    }
  });
});

describe('tokenbroker: secrets on the command line are refused', () => {
  const attempts: string[][] = [
    ['token', 'ap', '--client-secret', 'hunter2-value'],
    ['token', 'ap', '--client-secret=hunter2-value'],
    ['token', 'ap', '--secret', 'hunter2-value'],
    ['token', 'ap', '--clientSecret=hunter2-value'],
    ['token', 'autopay', '--autopay-client-secret', 'hunter2-value'],
    ['token', 'ap', '--password=hunter2-value'],
    ['--client_secret=hunter2-value', 'token', 'ap'],
    ['emulate', '--api-key', 'hunter2-value'],
  ];
  it.each(attempts)('exit 2 with a hint, never echoing the value: %s %s %s %s', async (...argv) => {
    const result = await runCli(argv, env);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const line = expectOneLineError(result.stderr, 'hunter2-value');
    expect(line).toContain('refusing');
    expect(line).toContain('TOKENBROKER_AP_CLIENT_SECRET');
    expect(line).toContain('clientSecretFile');
    expect(emulator.stats().providers['alternative-payments'].tokenRequests).toBe(0);
  });

  it('other usage errors never echo values either', async () => {
    const unknown = await runCli(['token', 'ap', '--bogus=hunter2-value'], env);
    expect(unknown.code).toBe(2);
    expect(expectOneLineError(unknown.stderr, 'hunter2-value')).toContain("unknown option '--bogus=…'");

    // A long value may be a secret pasted in the wrong place: described, not repeated.
    const provider = await runCli(['token', 'hunter2-value-0a1b2c3d4e5f6a7b8c9d'], env);
    expect(provider.code).toBe(2);
    expect(expectOneLineError(provider.stderr, 'hunter2-value')).toContain('unknown provider (a 34-character value, not repeated here');
    const notAnId = await runCli(['token', 'hunter2=value'], env);
    expect(notAnId.code).toBe(2);
    expect(expectOneLineError(notAnId.stderr, 'hunter2')).toContain('unknown provider');

    // A short id is named (issue 23: "unknown provider" said not which).
    const named = await runCli(['token', 'stripe'], env);
    expect(named.code).toBe(2);
    expect(named.stderr).toBe(
      'tokenbroker: unknown provider "stripe"; use ap (alias alternative-payments) or autopay, or give --config <file> with a provider of that id\n',
    );

    const extra = await runCli(['token', 'ap', 'hunter2-value'], env);
    expect(extra.code).toBe(2);
    expectOneLineError(extra.stderr, 'hunter2-value');
  });
});

describe('tokenbroker token --config', () => {
  async function config(name: string, content: unknown): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  }

  it('reads both providers from a file, secrets from a named variable and from a file', async () => {
    await writeFile(join(dir, 'autopay.secret'), AUTOPAY_CLIENT.clientSecret);
    const path = await config('ok.json', {
      providers: {
        ap: { clientId: AP_CLIENT.clientId, clientSecretEnv: 'MY_AP_SECRET', baseUrl: emulator.alternativePaymentsBaseUrl },
        autopay: {
          clientId: AUTOPAY_CLIENT.clientId,
          clientSecretFile: 'autopay.secret',
          tokenUrl: emulator.autopayTokenUrl,
          apiBaseUrl: emulator.autopayApiBaseUrl,
        },
      },
    });
    // The TOKENBROKER_* variables are ignored when a file is given.
    const ignored = { TOKENBROKER_AP_CLIENT_ID: 'ignored', TOKENBROKER_AP_BASE_URL: 'http://example.com' };
    const ap = await runCli(['token', 'ap', '--config', path], { MY_AP_SECRET: AP_CLIENT.clientSecret, ...ignored });
    expect(ap.stderr).toBe('');
    expect(ap.code).toBe(0);
    const autopay = await runCli(['token', 'autopay', '-c', path], {});
    expect(autopay.code).toBe(0);
    expect(JSON.parse(autopay.stdout)).toMatchObject({ provider: 'autopay', scope: 'customer_club' });
  });

  it('refuses an inline clientSecret with a hint, without quoting it', async () => {
    const path = await config('inline.json', { providers: { ap: { clientId: 'x', clientSecret: 'inline-hunter2' } } });
    const result = await runCli(['token', 'ap', '--config', path], {});
    expect(result.code).toBe(2);
    const line = expectOneLineError(result.stderr, 'inline-hunter2');
    expect(line).toContain('providers.ap.clientSecret');
    expect(line).toContain('clientSecretEnv');
    expect(line).toContain('clientSecretFile');
  });

  it('does not quote the file when it is not JSON', async () => {
    const path = await config('broken.json', '{ "providers": { "ap": { "clientSecret": "inline-hunter2" ');
    const result = await runCli(['token', 'ap', '--config', path], {});
    expect(result.code).toBe(2);
    expect(expectOneLineError(result.stderr, 'inline-hunter2')).toContain('is not valid JSON');
  });

  it('names every problem: unknown fields, missing sections, both secret sources, unset variable', async () => {
    const unknownField = await runCli(
      ['token', 'ap', '-c', await config('typo.json', { providers: { ap: { clientId: 'x', clientSecretEnv: 'S', baseURL: 'x' } } })],
      {},
    );
    expect(unknownField.code).toBe(2);
    expect(unknownField.stderr).toContain('unknown field baseURL');

    const missing = await runCli(['token', 'autopay', '-c', await config('ap-only.json', { providers: { ap: { clientId: 'x', clientSecretEnv: 'S' } } })], {});
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('providers.autopay: is missing');

    const both = await runCli(
      ['token', 'ap', '-c', await config('both.json', { providers: { ap: { clientId: 'x', clientSecretEnv: 'S', clientSecretFile: 'f' } } })],
      {},
    );
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('not both');

    const unset = await runCli(
      ['token', 'ap', '-c', await config('unset.json', { providers: { ap: { clientId: 'x', clientSecretEnv: 'NOT_SET_ANYWHERE' } } })],
      {},
    );
    expect(unset.code).toBe(2);
    expect(expectOneLineError(unset.stderr)).toContain('NOT_SET_ANYWHERE, which is not set');

    const badUrl = await runCli(
      ['token', 'ap', '-c', await config('url.json', { providers: { ap: { clientId: 'x', clientSecretEnv: 'S', baseUrl: 'ftp://x' } } })],
      { S: 'secret-S' },
    );
    expect(badUrl.code).toBe(2);
    expect(expectOneLineError(badUrl.stderr, 'secret-S')).toContain('url.json: providers.ap.baseUrl');

    const absent = await runCli(['token', 'ap', '-c', join(dir, 'nope.json')], {});
    expect(absent.code).toBe(2);
    expect(absent.stderr).toContain('ENOENT');
  });
});
