/**
 * `tokenbroker serve` as users run it (dist/apps/cli/main.js, built by the global setup), stopped with
 * SIGTERM under load: requests under way complete, nothing answers 5xx except the 503 Fastify gives
 * requests that arrive after the close began, and the process exits 0 on its own.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator } from 'tokenbroker/emulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServe } from './bin-helpers.js';
import { baseConfig, ENV, KEYS } from './helpers.js';

let emulator: Emulator;

beforeAll(async () => {
  emulator = await startEmulator({ ban: false, alternativePaymentsRateLimitPerSecond: 0 });
});
afterAll(async () => emulator?.close());

describe('tokenbroker serve, SIGTERM under load', () => {
  it('finishes the requests under way, closes the manager and store, and exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenbroker-serve-'));
    const file = join(dir, 'broker.json');
    writeFileSync(file, JSON.stringify(baseConfig(emulator)));
    const serve = await spawnServe(file, ENV);
    const { child, url } = serve;
    const exited = serve.exited.then(({ code, signal }) => ({ code, signal, at: Date.now() }));
    const headers = { authorization: `Bearer ${KEYS.billing}` };
    expect((await fetch(`${url}/v1/tokens/ap`, { headers })).status).toBe(200);

    // Steady load on the warm provider.
    let stopLoad = false;
    let sigtermAt = Infinity;
    const loadResults: Array<{ startedAt: number; status: number | 'error' }> = [];
    const loop = async () => {
      while (!stopLoad) {
        const startedAt = Date.now();
        try {
          const response = await fetch(`${url}/v1/tokens/ap`, { headers });
          await response.arrayBuffer();
          loadResults.push({ startedAt, status: response.status });
        } catch {
          loadResults.push({ startedAt, status: 'error' });
          if (startedAt > sigtermAt) return;
        }
      }
    };
    const loops = Array.from({ length: 8 }, loop);
    await new Promise((resolve) => setTimeout(resolve, 300));

    // Slow requests in flight: a cold provider whose token endpoint takes 800 ms.
    emulator.configure({ latencyMs: 800 });
    const inFlight = Array.from({ length: 20 }, async () => {
      const response = await fetch(`${url}/v1/tokens/autopay`, { headers });
      return { status: response.status, body: (await response.json()) as { access_token?: string } };
    });
    await new Promise((resolve) => setTimeout(resolve, 250));
    sigtermAt = Date.now();
    child.kill('SIGTERM');

    const slow = await Promise.all(inFlight);
    const { code, signal, at } = await exited;
    stopLoad = true;
    await Promise.all(loops);
    emulator.configure({ latencyMs: 0 });

    expect(slow.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(new Set(slow.map((r) => r.body.access_token)).size).toBe(1);
    expect(emulator.stats().providers.autopay.tokenRequests).toBe(1);
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(at - sigtermAt).toBeLessThan(5_000);

    const before = loadResults.filter((r) => r.startedAt < sigtermAt - 50);
    expect(before.length).toBeGreaterThan(50);
    expect(before.every((r) => r.status === 200)).toBe(true);
    // After the close began: served, refused with 503 by Fastify, or the connection was closed. Never 500.
    for (const r of loadResults) expect([200, 503, 'error']).toContain(r.status);
    expect(serve.stdout()).toContain('"msg":"closed"');
    expect(serve.stderr()).toBe('');
  });
});
