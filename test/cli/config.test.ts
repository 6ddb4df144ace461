/**
 * One configuration path: `tokenbroker token --config` and `tokenbroker serve` read the same file,
 * with the same provider sections (src/apps/config-file.ts); the command can configure `oauth2` too.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyDigest } from '../../src/apps/broker/index.js';
import { loadConfiguredProvider } from '../../src/apps/cli/config.js';
import { ConfigError } from '../../src/base/errors.js';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { startLoopbackServer } from '../helpers/loopback-server.js';
import { AP_CLIENT, runCli } from './helpers.js';

let emulator: Emulator;
const dir = mkdtempSync(join(tmpdir(), 'tokenbroker-one-config-'));
beforeAll(async () => {
  emulator = await startEmulator({ ban: false });
});
afterAll(async () => emulator?.close());

function brokerFile(): string {
  const file = join(dir, 'broker.json');
  writeFileSync(
    file,
    JSON.stringify({
      store: { type: 'memory' },
      providers: {
        ap: { type: 'alternative-payments', clientId: AP_CLIENT.clientId, clientSecretEnv: 'AP_SECRET', baseUrl: emulator.alternativePaymentsBaseUrl },
        idp: { type: 'oauth2', clientId: 'payments', clientSecretEnv: 'IDP_SECRET', tokenUrl: 'https://idp.example.com/oauth/token', scope: 'payments' },
      },
      consumers: [{ name: 'billing', keySha256: keyDigest('tbk_some_key_0123456789abcdef'), providers: ['ap', 'idp'] }],
    }),
  );
  return file;
}

describe('one config file for the command and the broker', () => {
  it('the broker config works with tokenbroker token --config and serve --check', async () => {
    const file = brokerFile();
    const env = { AP_SECRET: AP_CLIENT.clientSecret, IDP_SECRET: 'idp-secret-3a2b1c' };
    const token = await runCli(['token', 'ap', '--config', file], env);
    expect(token.stderr).toBe('');
    expect(token.code).toBe(0);
    const check = await runCli(['serve', '--config', file, '--check'], env);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('ok (2 providers, 1 consumer, memory store)');
  });

  it('an oauth2 section builds the same provider as in the broker', async () => {
    const loaded = await loadConfiguredProvider('idp', { env: { IDP_SECRET: 'idp-secret-3a2b1c' }, configPath: brokerFile() });
    expect(loaded.type).toBe('oauth2');
    expect(loaded.provider.kind).toBe('oauth2');
    expect(JSON.stringify(loaded.provider)).not.toContain('idp-secret-3a2b1c');
  });

  it('tokenbroker token <id> --config fetches from an oauth2 section (any RFC 6749 server)', async () => {
    const server = await startLoopbackServer((request, response, body) => {
      const form = new URLSearchParams(body);
      const basic = Buffer.from(String(request.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString();
      const ok =
        form.get('grant_type') === 'client_credentials' && (basic === 'payments:idp-secret-3a2b1c' || form.get('client_secret') === 'idp-secret-3a2b1c');
      response.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify(
          ok ? { access_token: 'idp-token-0123456789abcdef', token_type: 'Bearer', expires_in: 600, scope: 'payments' } : { error: 'invalid_client' },
        ),
      );
    });
    try {
      const file = join(dir, 'idp.json');
      writeFileSync(
        file,
        JSON.stringify({
          providers: { idp: { type: 'oauth2', clientId: 'payments', clientSecretEnv: 'IDP_SECRET', tokenUrl: `${server.url}/token`, scope: 'payments' } },
        }),
      );
      const result = await runCli(['token', 'idp', '--config', file], { IDP_SECRET: 'idp-secret-3a2b1c' });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ provider: 'idp', tokenType: 'Bearer', scope: 'payments', accessToken: 'idp-…(26 chars)' });
      // Without a file, only ap and autopay can be configured (from TOKENBROKER_* variables).
      const noFile = await runCli(['token', 'idp'], {});
      expect(noFile.code).toBe(2);
      expect(noFile.stderr).toContain(
        'unknown provider "idp"; use ap (alias alternative-payments) or autopay, or give --config <file> with a provider of that id',
      );
      // An id the file does not configure: the ids it does are listed.
      const typo = await runCli(['token', 'idq', '--config', file], { IDP_SECRET: 'idp-secret-3a2b1c' });
      expect(typo.code).toBe(2);
      expect(typo.stderr).toContain(`does not configure idq (it configures idp)`);
    } finally {
      await server.close();
    }
  });

  it("problems are named by the file and field, the factory's own checks included", async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({ providers: { idp: { type: 'oauth2', clientId: 'x', clientSecretEnv: 'S', tokenUrl: 'http://idp.example.com/token' } } }),
    );
    const error = await loadConfiguredProvider('idp', { env: { S: 'secret-xyz-123' }, configPath: file }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const text = (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    expect(text).toContain('bad.json: providers.idp.tokenUrl');
    expect(text).not.toContain('secret-xyz-123');
    const wrongType = join(dir, 'wrong-type.json');
    writeFileSync(wrongType, JSON.stringify({ providers: { ap: { type: 'autopay', clientId: 'x', clientSecretEnv: 'S' } } }));
    const result = await runCli(['token', 'ap', '--config', wrongType], { S: 's' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('providers.ap.type: is autopay');
  });
});
