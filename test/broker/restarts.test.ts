/**
 * Restart safety: a broker with no `store` configured keeps its tokens and issuance budget in the
 * embedded store in `stateDir`, so 50 start/stop cycles cost the provider one token in all.
 */
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator } from 'tokenbroker/emulator';
import { describe, expect, it } from 'vitest';
import { createBroker } from '../../src/apps/broker/index.js';
import { ConfigError } from '../../src/base/errors.js';
import { baseConfig, bearer, ENV, KEYS } from './helpers.js';

describe('restarts with no store configured', () => {
  it('50 start/stop cycles → 1 token issued upstream; the budget survives restarts', async () => {
    const emulator = await startEmulator({ ban: { maxTokens: 20, windowSeconds: 600 }, alternativePaymentsRateLimitPerSecond: 0 });
    const stateDir = mkdtempSync(join(tmpdir(), 'tokenbroker-restarts-'));
    const logs: string[] = [];
    try {
      const { store: _memory, ...config } = baseConfig(emulator);
      const tokens = new Set<string>();
      for (let i = 0; i < 50; i++) {
        const broker = createBroker({ ...config, stateDir }, { env: ENV, logDestination: { write: (line: string) => logs.push(line) } });
        const url = await broker.listen();
        const answer = await fetch(`${url}/v1/tokens/ap`, { headers: bearer(KEYS.billing) });
        expect(answer.status).toBe(200);
        tokens.add(((await answer.json()) as { access_token: string }).access_token);
        await broker.close();
      }
      expect(tokens.size).toBe(1);
      expect(emulator.stats().providers['alternative-payments'].tokenRequests).toBe(1);
      expect(logs.join('')).not.toContain('MEMORY STORE');
    } finally {
      await emulator.close();
    }
  });
});

describe('stateDir', () => {
  it('a state directory others can open is refused, naming stateDir and the fix, before anything listens', async () => {
    const emulator = await startEmulator({ ban: false });
    const stateDir = mkdtempSync(join(tmpdir(), 'tokenbroker-open-state-'));
    chmodSync(stateDir, 0o755);
    try {
      const { store: _memory, ...config } = baseConfig(emulator);
      let error: unknown;
      try {
        createBroker({ ...config, stateDir }, { env: ENV, logDestination: { write: () => {} } });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const text = (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`).join('; ');
      expect(text).toMatch(/^stateDir: /);
      expect(text).toContain('chmod');
    } finally {
      await emulator.close();
    }
  });
});

describe('an explicit memory store', () => {
  it('{ "type": "memory" } is allowed, with a loud warning at startup', async () => {
    const emulator = await startEmulator({ ban: false });
    const logs: string[] = [];
    const broker = createBroker(baseConfig(emulator), { env: ENV, logDestination: { write: (line: string) => logs.push(line) } });
    await broker.close();
    await emulator.close();
    expect(logs.find((line) => line.includes('MEMORY STORE'))).toMatch(/"level":40/);
  });
});
