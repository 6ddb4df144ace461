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
import type * as EmulatorEntry from '../../src/apps/emulator/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROBE = join(ROOT, 'scripts/load-probe.mjs');
const work = mkdtempSync(join(tmpdir(), 'tb-footprint-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let runs = 0;
/** What the probe saw: packages, built-ins, and this package's own files (`dist/…`). */
interface Loads {
  readonly packages: string[];
  readonly builtins: string[];
  readonly files: string[];
}

/** Runs node with the probe from the repository root (so `tokenbroker` resolves to this package's dist/). */
function loads(args: readonly string[], env: NodeJS.ProcessEnv = {}): Loads {
  const out = join(work, `loads-${++runs}.json`);
  execFileSync(process.execPath, ['--import', PROBE, ...args], { cwd: ROOT, env: { ...process.env, ...env, LOAD_PROBE_OUT: out }, stdio: 'pipe' });
  return JSON.parse(readFileSync(out, 'utf8')) as Loads;
}

/** The same, without blocking this process (when the test serves the child, as the emulator does). */
async function loadsAsync(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Loads> {
  const out = join(work, `loads-${++runs}.json`);
  await promisify(execFile)(process.execPath, ['--import', PROBE, ...args], { cwd: ROOT, env: { ...process.env, ...env, LOAD_PROBE_OUT: out } });
  return JSON.parse(readFileSync(out, 'utf8')) as Loads;
}

type EmulatorModule = typeof EmulatorEntry;

const HEAVY = ['fastify', 'prom-client', 'ioredis', 'commander', 'openid-client', 'jose', 'oauth4webapi'];

/** What only an `oauth2()` token request needs (grant.ts and what it imports): loaded on the first one. */
const OAUTH2_REQUEST_TIME = ['grant', 'request', 'auth', 'discovery', 'errors', 'library'].map((name) => `dist/providers/oauth2/${name}.js`);

describe('what each entry point loads', () => {
  it("import('tokenbroker') loads only ky, zod and lru-cache: no server, Redis, CLI, OpenTelemetry or OpenID code, no node:sqlite", () => {
    const { packages, builtins, files } = loads(['-e', "await import('tokenbroker')"]);
    for (const name of HEAVY) expect(packages).not.toContain(name);
    expect(packages.filter((name) => name.startsWith('@opentelemetry/'))).toEqual([]);
    expect(packages).toEqual(expect.arrayContaining(['ky', 'zod', 'lru-cache']));
    expect(builtins).not.toContain('node:sqlite');
    expect(files).toContain('dist/providers/oauth2/index.js');
    expect(files.filter((file) => OAUTH2_REQUEST_TIME.includes(file))).toEqual([]);
  });

  it('oauth2() constructed (a key, DPoP) loads none of its request-time code; its first token request loads it and gets the token', () => {
    const construct = `
      const { generateKeyPairSync } = await import('node:crypto');
      const { oauth2 } = await import('tokenbroker');
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      oauth2({ tokenUrl: 'http://127.0.0.1:9/token', clientId: 'a', authMethod: 'private_key_jwt', privateKey, dpop: true });
      oauth2({ issuer: 'http://127.0.0.1:9', clientId: 'a', clientSecret: 's' });`;
    const constructed = loads(['--input-type=module', '-e', construct]);
    expect(constructed.files).toContain('dist/providers/oauth2/options.js');
    expect(constructed.files.filter((file) => OAUTH2_REQUEST_TIME.includes(file))).toEqual([]);
    for (const name of ['openid-client', 'jose', 'oauth4webapi']) expect(constructed.packages).not.toContain(name);

    const request = `
      const { createServer } = await import('node:http');
      const server = createServer((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ access_token: 'lazy-token', token_type: 'Bearer', expires_in: 3600 }));
      });
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { createTokenManager, oauth2 } = await import('tokenbroker');
      const tokenUrl = 'http://127.0.0.1:' + server.address().port + '/token';
      const tokens = createTokenManager({ providers: { bank: oauth2({ tokenUrl, clientId: 'a', clientSecret: 's' }) } });
      const token = await tokens.getToken('bank');
      await tokens.close();
      server.close();
      if (token.accessToken !== 'lazy-token') throw new Error('unexpected token ' + token.accessToken);`;
    const requested = loads(['--input-type=module', '-e', request]);
    expect(requested.files).toEqual(expect.arrayContaining(OAUTH2_REQUEST_TIME));
    expect(requested.packages).toContain('openid-client');
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
    const { startEmulator, SAMPLE_CLIENTS } = (await import(pathToFileURL(join(ROOT, 'dist/apps/emulator/index.js')).href)) as EmulatorModule;
    const emulator = await startEmulator();
    try {
      const client = SAMPLE_CLIENTS.find((candidate) => candidate.provider === 'alternative-payments')!;
      const { packages } = await loadsAsync([join(ROOT, 'dist/apps/cli/main.js'), 'token', 'ap'], {
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
    const { packages } = loads([join(ROOT, 'dist/apps/cli/main.js'), '--help']);
    for (const name of ['fastify', 'prom-client', 'ioredis', 'openid-client']) expect(packages).not.toContain(name);
  });
});
