/**
 * What each entry point loads, measured on the built package (dist/, as packed) with a module-resolution
 * hook (scripts/load-probe.mjs): an app pays only for the parts it uses.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type * as EmulatorEntry from '../../src/emulator/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROBE = join(ROOT, 'scripts/load-probe.mjs');
const work = mkdtempSync(join(tmpdir(), 'tb-footprint-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let runs = 0;
/** Runs node with the probe from the repository root (so `tokenbroker` resolves to this package's dist/). */
function loads(args: readonly string[], env: NodeJS.ProcessEnv = {}): { packages: string[]; builtins: string[] } {
  const out = join(work, `loads-${++runs}.json`);
  execFileSync(process.execPath, ['--import', PROBE, ...args], { cwd: ROOT, env: { ...process.env, ...env, LOAD_PROBE_OUT: out }, stdio: 'pipe' });
  return JSON.parse(readFileSync(out, 'utf8')) as { packages: string[]; builtins: string[] };
}

/** The same, without blocking this process (when the test serves the child, as the emulator does). */
async function loadsAsync(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ packages: string[]; builtins: string[] }> {
  const out = join(work, `loads-${++runs}.json`);
  await promisify(execFile)(process.execPath, ['--import', PROBE, ...args], { cwd: ROOT, env: { ...process.env, ...env, LOAD_PROBE_OUT: out } });
  return JSON.parse(readFileSync(out, 'utf8')) as { packages: string[]; builtins: string[] };
}

type EmulatorModule = typeof EmulatorEntry;

const HEAVY = ['fastify', 'prom-client', 'ioredis', 'commander', 'openid-client', 'jose', 'oauth4webapi'];

describe('what each entry point loads', () => {
  it("import('tokenbroker') loads only ky, zod and lru-cache: no server, Redis, CLI, OpenTelemetry or OpenID code, no node:sqlite", () => {
    const { packages, builtins } = loads(['-e', "await import('tokenbroker')"]);
    for (const name of HEAVY) expect(packages).not.toContain(name);
    expect(packages.filter((name) => name.startsWith('@opentelemetry/'))).toEqual([]);
    expect(packages).toEqual(expect.arrayContaining(['ky', 'zod', 'lru-cache']));
    expect(builtins).not.toContain('node:sqlite');
  });

  it('a manager with the built-in providers, created and used, still loads no OpenID code', () => {
    const code = `
      const { createTokenManager, alternativePayments, autopay } = await import('tokenbroker');
      const tokens = createTokenManager({ providers: {
        ap: alternativePayments({ clientId: 'a', clientSecret: 's', baseUrl: 'http://127.0.0.1:9' }),
        autopay: autopay({ clientId: 'a', clientSecret: 's', tokenUrl: 'http://127.0.0.1:9/oauth/token' }),
      } });
      await tokens.close();`;
    const { packages } = loads(['--input-type=module', '-e', code]);
    for (const name of ['openid-client', 'jose', 'oauth4webapi', 'ioredis', 'fastify']) expect(packages).not.toContain(name);
  });

  it("import('tokenbroker/emulator') loads no third-party package but zod, and nothing of the client side", () => {
    const { packages } = loads(['-e', "await import('tokenbroker/emulator')"]);
    expect(packages.filter((name) => name !== 'zod')).toEqual([]);
  });

  it('tokenbroker token loads none of fastify, prom-client, ioredis, and gets its token', async () => {
    const { startEmulator, SAMPLE_CLIENTS } = (await import(pathToFileURL(join(ROOT, 'dist/emulator/index.js')).href)) as EmulatorModule;
    const emulator = await startEmulator();
    try {
      const client = SAMPLE_CLIENTS.find((candidate) => candidate.provider === 'alternative-payments')!;
      const { packages } = await loadsAsync([join(ROOT, 'dist/cli/main.js'), 'token', 'ap'], {
        TOKENBROKER_AP_CLIENT_ID: client.clientId,
        TOKENBROKER_AP_CLIENT_SECRET: client.clientSecret,
        TOKENBROKER_AP_BASE_URL: emulator.alternativePaymentsBaseUrl,
        XDG_CACHE_HOME: join(work, 'cache'),
      });
      for (const name of ['fastify', 'prom-client', 'ioredis']) expect(packages).not.toContain(name);
      expect(emulator.stats().providers['alternative-payments'].tokensIssued).toBe(1);
    } finally {
      await emulator.close();
    }
  });

  it('tokenbroker --help loads none of fastify, prom-client, ioredis', () => {
    const { packages } = loads([join(ROOT, 'dist/cli/main.js'), '--help']);
    for (const name of ['fastify', 'prom-client', 'ioredis', 'openid-client']) expect(packages).not.toContain(name);
  });
});
