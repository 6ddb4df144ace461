/**
 * The config file: every problem listed at once, inline secrets refused with a hint, values never
 * quoted; and `tokenbroker serve` refusing to start on a bad file (exit 2, one line).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keyDigest } from '../../src/apps/broker/index.js';
import { DEFAULT_LIMITS, resolveBrokerConfig } from '../../src/apps/broker/config.js';
import { run } from '../../src/apps/cli/main.js';
import { ConfigError } from '../../src/base/errors.js';

const SECRET = 'sk_live_inline_secret_0a1b2c3d4e5f';
const dir = mkdtempSync(join(tmpdir(), 'tokenbroker-broker-config-'));

function issuesOf(raw: unknown, env: Record<string, string> = {}): string[] {
  try {
    resolveBrokerConfig(raw, { env, baseDir: dir });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues.map((issue) => `${issue.path}: ${issue.message}`);
  }
  throw new Error('expected a ConfigError');
}

const good = {
  listen: { host: '127.0.0.1', port: 8080 },
  providers: {
    ap: { type: 'alternative-payments', clientId: 'ap-client', clientSecretEnv: 'AP_SECRET', environment: 'demo' },
    autopay: { type: 'autopay', clientId: 'autopay-client', clientSecretFile: 'autopay.secret' },
    idp: { type: 'oauth2', clientId: 'idp-client', clientSecretEnv: 'IDP_SECRET', tokenUrl: 'https://idp.example.com/oauth/token', scope: 'payments' },
  },
  store: { type: 'memory' },
  consumers: [{ name: 'billing', keySha256: keyDigest('k1'), providers: ['ap', 'autopay'] }],
  limits: { bodyLimitBytes: 512, requestTimeoutMs: 5000 },
};

describe('broker config', () => {
  it('a good config loads, with secrets from env and files and defaults applied', () => {
    writeFileSync(join(dir, 'autopay.secret'), 'file-secret\n');
    const resolved = resolveBrokerConfig(good, { env: { AP_SECRET: 'env-secret', IDP_SECRET: 'idp-secret' }, baseDir: dir });
    expect([...resolved.providers.keys()]).toEqual(['ap', 'autopay', 'idp']);
    expect(resolved.secrets).toEqual(['env-secret', 'file-secret', 'idp-secret']);
    expect(resolved.limits).toEqual({ ...DEFAULT_LIMITS, bodyLimitBytes: 512, requestTimeoutMs: 5000 });
    expect(resolved.consumers[0]!.providers.has('ap')).toBe(true);
    expect(resolved.store).toEqual({ type: 'memory', explicit: true });
  });

  it('lists every problem at once, each naming its field, never quoting a value', () => {
    const issues = issuesOf({
      listen: { port: 70000, extra: true },
      providers: {
        ap: { type: 'alternative-payments', clientId: 'ap-client', clientSecret: SECRET },
        autopay: { type: 'autopay', clientId: '', clientSecretEnv: 'NOT_SET' },
        idp: { type: 'oauth2', clientId: 'idp', clientSecretFile: 'missing.secret', tokenUrl: 'http://idp.example.com/token' },
        paypal: { type: 'paypal', clientId: SECRET },
        'bad id!': { type: 'autopay', clientId: 'x', clientSecretEnv: 'NOT_SET' },
      },
      store: { type: 'redis', url: `redis://:${SECRET}@127.0.0.1:6379` },
      consumers: [
        { name: 'billing', keySha256: 'abc', providers: ['ap', 'nope'] },
        { name: 'payouts', key: SECRET, providers: [] },
      ],
      limits: { bodyLimitBytes: -1 },
      tokens: { guard: { maxTokens: 0 } },
      unknownSection: {},
    });
    const text = issues.join('\n');
    expect(text).not.toContain(SECRET);
    expect(issues).toEqual(
      expect.arrayContaining([
        '(top level): has unknown field unknownSection',
        'listen: has unknown field extra',
        'listen.port: must be at most 65535',
        expect.stringMatching(/^providers\.ap\.clientSecret: secrets are not accepted inline .*clientSecretEnv.*clientSecretFile/),
        'providers.autopay.clientId: must not be empty',
        expect.stringMatching(/^providers\.idp\.clientSecretFile: cannot read .*missing\.secret \(ENOENT\)$/),
        expect.stringMatching(/^providers\.paypal\.type: must be "alternative-payments", "autopay" or "oauth2"/),
        expect.stringMatching(/^providers\.bad id!: provider ids must be/),
        expect.stringMatching(/^store\.url: holds a password; .*urlEnv/),
        'consumers[0].keySha256: must be the SHA-256 of the key: 64 hex characters',
        expect.stringMatching(/^consumers\[1\]\.key: API keys are not accepted in the config file/),
        expect.stringMatching(/^consumers\[1\]\.providers: /),
        'limits.bodyLimitBytes: must be at least 0',
        'tokens.guard.maxTokens: must be at least 1',
      ]),
    );
    // A missing env var and a non-https URL are named too, by the field the user wrote.
    expect(text).toContain('providers.autopay.clientId: must not be empty');
    const more = issuesOf(
      {
        providers: {
          autopay: { type: 'autopay', clientId: 'a', clientSecretEnv: 'NOT_SET' },
          idp: { type: 'oauth2', clientId: 'idp', clientSecretEnv: 'IDP', tokenUrl: 'http://idp.example.com/token' },
        },
        consumers: [{ name: 'billing', keySha256: keyDigest('k'), providers: ['autopay', 'nope'] }],
      },
      { IDP: 'x' },
    );
    expect(more).toEqual(
      expect.arrayContaining([
        'providers.autopay.clientSecretEnv: names NOT_SET, which is not set',
        expect.stringMatching(/^providers\.idp\.tokenUrl: .*https/),
        'consumers[0].providers[1]: names no provider of this file ("nope")',
      ]),
    );
  });

  it('requires providers and consumers, and duplicate consumers are refused', () => {
    expect(issuesOf({})).toEqual(['(top level).providers: is required', '(top level).consumers: is required'].map((s) => s.replace('(top level).', '')));
    const dup = issuesOf(
      {
        providers: { ap: { type: 'alternative-payments', clientId: 'a', clientSecretEnv: 'S' } },
        consumers: [
          { name: 'a', keySha256: keyDigest('k'), providers: ['ap'] },
          { name: 'a', keySha256: keyDigest('k').toUpperCase(), providers: ['ap'] },
        ],
      },
      { S: 's' },
    );
    expect(dup).toEqual(['consumers[1].name: is used by another consumer', expect.stringMatching(/^consumers\[1\]\.keySha256: is the same key/)]);
  });
});

describe('tokenbroker serve with a bad config', () => {
  it('refuses to start: exit 2, one line naming every problem, no secret', async () => {
    const file = join(dir, 'broker.json');
    writeFileSync(
      file,
      JSON.stringify({
        providers: {
          ap: { type: 'alternative-payments', clientId: 'a', clientSecret: SECRET },
          autopay: { type: 'autopay', clientId: 'b', clientSecretEnv: 'NOPE' },
        },
        consumers: [{ name: 'billing', keySha256: 'short', providers: ['ap'] }],
      }),
    );
    const out: string[] = [];
    const err: string[] = [];
    const code = await run(['serve', '--config', file], {
      stdout: { write: (t: string) => out.push(t) },
      stderr: { write: (t: string) => err.push(t) },
      env: {},
    });
    expect(code).toBe(2);
    const message = err.join('');
    expect(message.trim().split('\n')).toHaveLength(1);
    expect(message).toContain('broker.json: providers.ap.clientSecret');
    expect(message).toContain('broker.json: providers.autopay.clientSecretEnv: names NOPE, which is not set');
    expect(message).toContain('broker.json: consumers[0].keySha256');
    expect(message).not.toContain(SECRET);
    expect(out.join('')).toBe('');
  });

  it('--check validates without serving', async () => {
    const file = join(dir, 'ok.json');
    writeFileSync(
      file,
      JSON.stringify({
        providers: { ap: { type: 'alternative-payments', clientId: 'a', clientSecretEnv: 'S' } },
        consumers: [{ name: 'c', keySha256: keyDigest('k'), providers: ['ap'] }],
      }),
    );
    const out: string[] = [];
    const code = await run(['serve', '--config', file, '--check'], {
      stdout: { write: (t: string) => out.push(t) },
      stderr: { write: () => {} },
      env: { S: 'secret' },
    });
    expect(code).toBe(0);
    expect(out.join('')).toMatch(/ok \(1 provider, 1 consumer, sqlite store at .*broker\.sqlite\)/);
  });

  it('an unreadable or non-JSON file is a config error too', async () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, `{ "providers": { "ap": "${SECRET}" `);
    const err: string[] = [];
    const io = { stdout: { write: () => {} }, stderr: { write: (t: string) => err.push(t) }, env: {} };
    expect(await run(['serve', '--config', file], io)).toBe(2);
    expect(await run(['serve', '--config', join(dir, 'absent.json')], io)).toBe(2);
    expect(err.join('')).toMatch(/broken\.json: is not valid JSON/);
    expect(err.join('')).toMatch(/cannot read .*absent\.json \(ENOENT\)/);
    expect(err.join('')).not.toContain(SECRET);
  });
});

describe('store options are validated by the library, named by the config field', () => {
  const base = {
    providers: { ap: { type: 'alternative-payments', clientId: 'a', clientSecretEnv: 'S' } },
    consumers: [{ name: 'c', keySha256: keyDigest('k'), providers: ['ap'] }],
  };

  it('a bad Redis URL and bad encryption keys: one ConfigError each, naming store.urlEnv / store.encryptionKeysEnv', async () => {
    const file = join(dir, 'redis-bad.json');
    writeFileSync(file, JSON.stringify({ ...base, store: { type: 'redis', urlEnv: 'R', encryptionKeysEnv: 'K' } }));
    const err: string[] = [];
    const io = { stdout: { write: () => {} }, stderr: { write: (t: string) => err.push(t) } };
    expect(
      await run(['serve', '--config', file, '--check'], {
        ...io,
        env: { S: 'secret-for-ap-1234', R: 'http://127.0.0.1:6379', K: Buffer.alloc(32).toString('base64') },
      }),
    ).toBe(2);
    expect(err.join(''), err.join('')).toContain('redis-bad.json: store.urlEnv');
    err.length = 0;
    expect(
      await run(['serve', '--config', file, '--check'], { ...io, env: { S: 'secret-for-ap-1234', R: 'redis://127.0.0.1:1', K: 'too-short-key-material' } }),
    ).toBe(2);
    expect(err.join('')).toContain('redis-bad.json: store.encryptionKeysEnv');
    expect(err.join('')).not.toContain('too-short-key-material');
  });
});
