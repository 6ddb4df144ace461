/**
 * The audit log to a file (audit.file): written asynchronously, flushed within a second at low
 * traffic, independent of logLevel, never a token or a key.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator } from 'tokenbroker/emulator';
import { describe, expect, it } from 'vitest';
import { createBroker } from '../../src/apps/broker/index.js';
import { baseConfig, bearer, ENV, KEYS } from './helpers.js';

describe('audit.file', () => {
  it('gets one line per token request within about a second, with logLevel silent', async () => {
    const emulator = await startEmulator({ ban: false });
    const file = join(mkdtempSync(join(tmpdir(), 'tokenbroker-audit-')), 'logs', 'audit.jsonl');
    const broker = createBroker({ ...baseConfig(emulator), logLevel: 'silent', audit: { file } }, { env: ENV });
    try {
      const url = await broker.listen();
      const answer = await fetch(`${url}/v1/tokens/ap`, { headers: bearer(KEYS.billing) });
      const { access_token: token } = (await answer.json()) as { access_token: string };
      let text = '';
      for (let i = 0; i < 40 && !text.includes('"outcome":"issued"'); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        try {
          text = readFileSync(file, 'utf8');
        } catch {
          // not created yet
        }
      }
      const lines = text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines).toEqual([
        expect.objectContaining({ type: 'audit', consumer: 'billing', provider: 'ap', outcome: 'issued', reqId: answer.headers.get('x-request-id') }),
      ]);
      expect(text).not.toContain(token);
      expect(text).not.toContain(KEYS.billing);
    } finally {
      await broker.close();
      await emulator.close();
    }
  });
});
