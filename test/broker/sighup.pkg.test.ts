/**
 * SIGHUP reloads `tokenbroker serve` (the built bin): a consumer added to the file works at once,
 * the process and its cached tokens stay; a broken file keeps the running config with one error line.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator } from 'tokenbroker/emulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyDigest } from '../../src/apps/broker/auth.js';
import { spawnServe } from './bin-helpers.js';
import { baseConfig, ENV, KEYS } from './helpers.js';

let emulator: Emulator;
beforeAll(async () => {
  emulator = await startEmulator({ ban: false, alternativePaymentsRateLimitPerSecond: 0 });
});
afterAll(async () => emulator?.close());

const NEW_KEY = 'tbk_added_on_reload_5a4b3c2d1e0f9a8b7c6d';

describe('tokenbroker serve, SIGHUP', () => {
  it('reloads consumers without a restart; a broken file keeps the old config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenbroker-sighup-'));
    const file = join(dir, 'broker.json');
    const config = baseConfig(emulator);
    writeFileSync(file, JSON.stringify(config));
    const serve = await spawnServe(file, ENV);
    try {
      const first = (await (await fetch(`${serve.url}/v1/tokens/ap`, { headers: { authorization: `Bearer ${KEYS.billing}` } })).json()) as {
        access_token: string;
      };
      expect((await fetch(`${serve.url}/v1/tokens/ap`, { headers: { authorization: `Bearer ${NEW_KEY}` } })).status).toBe(401);

      writeFileSync(file, JSON.stringify({ ...config, consumers: [...config.consumers, { name: 'added', keySha256: keyDigest(NEW_KEY), providers: ['ap'] }] }));
      let from = serve.stdout().length;
      serve.child.kill('SIGHUP');
      await serve.waitFor(/config reloaded/, from);
      const added = await fetch(`${serve.url}/v1/tokens/ap`, { headers: { authorization: `Bearer ${NEW_KEY}` } });
      expect(added.status).toBe(200);
      expect(((await added.json()) as { access_token: string }).access_token).toBe(first.access_token);
      expect(emulator.stats().providers['alternative-payments'].tokenRequests).toBe(1);

      writeFileSync(file, '{ "providers": ');
      from = serve.stdout().length;
      serve.child.kill('SIGHUP');
      await serve.waitFor(/reload failed/, from);
      expect(
        serve
          .stdout()
          .slice(from)
          .split('\n')
          .filter((line) => line.includes('reload failed')),
      ).toHaveLength(1);
      expect((await fetch(`${serve.url}/v1/tokens/ap`, { headers: { authorization: `Bearer ${NEW_KEY}` } })).status).toBe(200);
      expect(serve.child.exitCode).toBeNull();
    } finally {
      serve.child.kill('SIGTERM');
      expect((await serve.exited).code).toBe(0);
    }
  });
});
