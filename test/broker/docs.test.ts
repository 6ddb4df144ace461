/**
 * docs/broker.md stays true: its complete config example passes validation (only the secret files it
 * names, which do not exist here, are reported), and every error code it lists is one the broker uses.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createBroker } from '../../src/apps/broker/index.js';
import { resolveBrokerConfig } from '../../src/apps/broker/config.js';
import { SAMPLE_CLIENTS, startEmulator } from '../../src/apps/emulator/index.js';
import { ConfigError } from '../../src/base/errors.js';

const doc = readFileSync(new URL('../../docs/broker.md', import.meta.url), 'utf8');

describe('docs/broker.md', () => {
  it('the complete config example is valid', () => {
    const json = /## Configuration[\s\S]*?```json\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(json).toBeDefined();
    const env = {
      AP_CLIENT_SECRET: 'a',
      IDP_CLIENT_SECRET: 'b',
      TOKENBROKER_REDIS_URL: 'redis://:pw@127.0.0.1:6379/0',
      TOKENBROKER_TOKEN_KEYS: Buffer.alloc(32, 1).toString('base64'),
    };
    let issues: string[] = [];
    try {
      resolveBrokerConfig(JSON.parse(json!), { env, baseDir: '/nonexistent' });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      issues = (error as ConfigError).issues.map((issue) => `${issue.path}: ${issue.message}`);
    }
    expect(issues).toEqual([
      expect.stringMatching(/^providers\.ap-demo\.clientSecretFile: cannot read \/run\/secrets\/ap-demo-secret/),
      expect.stringMatching(/^providers\.autopay\.clientSecretFile: cannot read \/nonexistent\/secrets\/autopay/),
    ]);
  });

  it('lists every error code of the broker', () => {
    const source = readFileSync(new URL('../../src/apps/broker/errors.ts', import.meta.url), 'utf8');
    const codes = /export type BrokerErrorCode =([\s\S]*?);/
      .exec(source)![1]!
      .match(/'([a-z_]+)'/g)!
      .map((c) => c.slice(1, -1));
    expect(codes.length).toBeGreaterThan(10);
    for (const code of codes) {
      expect(doc, code).toContain(`\`${code}\``);
    }
  });

  it('the copy-paste config for tokenbroker emulate works as documented', async () => {
    const section = doc.slice(doc.indexOf('### Try it against the emulator'));
    const json = /`broker\.emulator\.json`[^\n]*\n\n```json\n([\s\S]*?)```/.exec(section)?.[1];
    const key = /^KEY=(\S+)$/m.exec(section)?.[1];
    expect(json).toBeDefined();
    expect(key).toBeDefined();
    const emulator = await startEmulator({ ban: false });
    const port = new URL(emulator.url).port;
    const config = JSON.parse(json!.replaceAll('127.0.0.1:4010', `127.0.0.1:${port}`)) as Record<string, unknown>;
    const [ap, autopay] = SAMPLE_CLIENTS;
    // What the emulator's banner tells the user to export.
    const env = { TOKENBROKER_AP_CLIENT_SECRET: ap.clientSecret, TOKENBROKER_AUTOPAY_CLIENT_SECRET: autopay.clientSecret };
    const broker = createBroker(config, {
      env,
      baseDir: mkdtempSync(join(tmpdir(), 'tokenbroker-doc-')),
      listen: { port: 0 },
      ops: { port: 0 },
      logDestination: { write: () => {} },
    });
    try {
      const url = await broker.listen();
      for (const provider of ['ap', 'autopay']) {
        const answer = await fetch(`${url}/v1/tokens/${provider}`, { headers: { authorization: `Bearer ${key!}` } });
        expect(answer.status, provider).toBe(200);
        const { access_token: token } = (await answer.json()) as { access_token: string };
        const reported = await fetch(`${url}/v1/tokens/${provider}/invalidate`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key!}`, 'content-type': 'application/json' },
          body: JSON.stringify({ accessToken: token }),
        });
        expect(reported.status).toBe(200);
        expect(((await reported.json()) as { access_token: string }).access_token).not.toBe(token);
      }
      expect(await (await fetch(`${broker.opsUrl!}/metrics`)).text()).toContain('tokenbroker_consumer_requests_total{consumer="demo"');
    } finally {
      await broker.close();
      await emulator.close();
    }
  });

  const hasCurlAndJq = ['curl', 'jq'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0);
  if (!hasCurlAndJq) console.info('[docs] curl or jq is not installed: the curl consumer recipe is not run');
  it.skipIf(!hasCurlAndJq)('the curl consumer runs as written: a token, an API call, and after a revocation one report and one retry', async () => {
    const script = /### A consumer in any language: curl[\s\S]*?```sh\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(script).toBeDefined();
    const emulator = await startEmulator({ ban: false });
    const [ap] = SAMPLE_CLIENTS;
    const key = 'tbk_curl_consumer_0a1b2c3d4e5f60718293a4b5c6d7e8f9';
    const broker = createBroker(
      {
        listen: { host: '127.0.0.1', port: 0 },
        ops: { host: '127.0.0.1', port: 0 },
        store: { type: 'memory' },
        providers: { ap: { type: 'alternative-payments', clientId: ap!.clientId, clientSecretEnv: 'AP_SECRET', baseUrl: emulator.alternativePaymentsBaseUrl } },
        consumers: [{ name: 'curl', keySha256: createHash('sha256').update(key).digest('hex'), providers: ['ap'] }],
      },
      { env: { AP_SECRET: ap!.clientSecret }, logDestination: { write: () => {} } },
    );
    const dir = mkdtempSync(join(tmpdir(), 'tokenbroker-curl-'));
    const run = (env: Record<string, string>) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          'bash',
          ['--norc', '--noprofile', '-c', script!],
          { cwd: dir, env: { PATH: process.env.PATH, ...env }, timeout: 30_000 },
          (error, stdout, stderr) => resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr }),
        );
      });
    try {
      const env = { BROKER: await broker.listen(), API: emulator.alternativePaymentsBaseUrl, KEY: key };
      const first = await run(env);
      expect(first).toEqual({ code: 0, stdout: 'GET /customers: 200\n', stderr: '' });
      emulator.revokeTokens();
      const afterRevocation = await run(env);
      expect(afterRevocation).toEqual({ code: 0, stdout: 'GET /customers: 200\n', stderr: '' });
      const stats = emulator.stats().providers['alternative-payments'];
      expect(stats.tokenRequests).toBe(2); // the first token, and its replacement after the report
    } finally {
      await broker.close();
      await emulator.close();
    }
  });
});
