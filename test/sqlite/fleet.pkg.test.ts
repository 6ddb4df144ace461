/**
 * Issue 11, acceptance: processes of one host on one SQLite file — the built package in child
 * processes, the emulator (or a stalling loopback token server) in this one.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { startLoopbackServer } from '../helpers/loopback-server.js';
import { expectOneTokenAcrossFleet, runFleet, spawnWorker, type WorkerConfig } from '../helpers/fleet.js';
import { tempDirs } from './helpers.js';

const CLIENT = { clientId: 'sqlite-fleet-client', clientSecret: 'sqlite-fleet-secret-Zq8+/=' };
const temp = tempDirs();

let emulator: Emulator;
const tokenRequests = () => emulator.stats().providers['alternative-payments'].tokenRequests;

describe('a fleet of processes on one SQLite file', () => {
  beforeAll(async () => {
    emulator = await startEmulator({ clients: [{ provider: 'alternative-payments', ...CLIENT }] });
  });
  afterAll(() => emulator?.close());

  const base = (): WorkerConfig & { path: string } => ({
    path: join(temp.dir(), 'tokens.sqlite'),
    provider: { baseUrl: emulator.alternativePaymentsBaseUrl, ...CLIENT },
  });

  it('8 processes × 1,000 concurrent cold calls → exactly 1 token request; a 9th process started later sends none', async () => {
    emulator.reset();
    // The one request stays in flight long enough for every process to be asking at the same time.
    emulator.configure({ latencyMs: 500 });
    const config = { ...base(), mode: 'cold' as const, concurrency: 1_000 };
    try {
      await expectOneTokenAcrossFleet('sqlite fleet', 8, config, tokenRequests, 1_000);
    } finally {
      emulator.configure({ latencyMs: 0 });
    }
  });

  it('the lock holder killed with SIGKILL mid-request → another process has a token within the lock TTL, ≤ 2 requests in all', async () => {
    let stalled: (() => void) | undefined;
    const firstRequestArrived = new Promise<void>((resolve) => (stalled = resolve));
    const tokenServer = await startLoopbackServer((_request, response) => {
      if (tokenServer.requests() === 1) {
        stalled?.();
        return; // never answers: the holder is "mid-request" until it is killed
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ access_token: `taken-over-${Date.now()}`, expires_in: 3600, token_type: 'bearer' }));
    });
    // Lock TTL = timeoutMs + 5 s = 10 000; a live holder renews it, a dead one stops renewing. The
    // holder's attempt (5 s) must still be under way when it is killed, even on a slow machine: both
    // processes are started and have opened the file before the holder is let go.
    const lockTtlMs = 10_000;
    const config: WorkerConfig = {
      ...base(),
      provider: { baseUrl: tokenServer.url, ...CLIENT },
      manager: { timeoutMs: 5_000, retry: { attempts: 1, maxDelayMs: 0 } },
      mode: 'cold',
      concurrency: 50,
      barrier: true,
    };
    try {
      const holder = spawnWorker(config);
      const waiter = spawnWorker(config);
      await Promise.all([holder.ready, waiter.ready]);
      holder.go();
      await firstRequestArrived;
      waiter.go();
      await waiter.requesting;
      // Let the second process find the lock taken and start waiting, then kill the holder.
      await new Promise((resolve) => setTimeout(resolve, 500));
      holder.process.kill('SIGKILL');
      const killedAt = Date.now();
      expect(await holder.exit).toBe('SIGKILL');
      const result = await waiter.result;
      const afterKill = Date.now() - killedAt;
      console.info(`[sqlite fleet] holder killed: token ${afterKill} ms after the kill (lock TTL ${lockTtlMs} ms), ${tokenServer.requests()} requests`);
      expect(result.errorCount).toBe(0);
      expect(result.accessTokens).toHaveLength(1);
      expect(result.accessTokens[0]).toMatch(/^taken-over-/);
      // The lock expires at most one TTL after the holder's last renewal, which came before the kill;
      // then one poll (50 ms) and one token request. The margin is for a loaded machine.
      expect(afterKill).toBeLessThan(lockTtlMs + 2_000);
      expect(tokenServer.requests()).toBeLessThanOrEqual(2);
      expect(await waiter.exit).toBe(0);
    } finally {
      await tokenServer.close();
    }
  });

  it('processes that all find the file corrupt at once: one fresh file for all of them, 1 token request', async () => {
    emulator.reset();
    const config = { ...base(), mode: 'cold' as const, concurrency: 200 };
    writeFileSync(config.path, 'corrupt '.repeat(2_000), { mode: 0o600 });
    const { results, exits } = await runFleet(4, config);
    expect(results.map((result) => result.errorCount)).toEqual([0, 0, 0, 0]);
    expect(new Set(results.flatMap((result) => result.accessTokens)).size).toBe(1);
    expect(tokenRequests()).toBe(1);
    expect(exits).toEqual([0, 0, 0, 0]);
    expect(readdirSync(dirname(config.path)).filter((name) => name.includes('.corrupt-')).length).toBeGreaterThanOrEqual(1);
  });

  it('the issuance budget is shared by the processes and survives every one of them restarting', async () => {
    emulator.reset();
    const config: WorkerConfig = { ...base(), manager: { guard: { maxTokens: 3, windowMs: 120_000 }, retry: { attempts: 1 } } };
    // First generation: each process takes a token, then forces 3 refreshes — 16 attempts, budget 3.
    const first = await runFleet(4, { ...config, mode: 'force', forceCount: 3 });
    expect(tokenRequests()).toBe(3);
    expect(first.results.reduce((sum, result) => sum + result.stats.guardRefusals, 0)).toBeGreaterThan(0);
    // Second generation, restarted: the token in the file serves them all, the budget still holds.
    const second = await runFleet(4, { ...config, mode: 'force', forceCount: 2 });
    expect(tokenRequests()).toBe(3);
    for (const result of second.results) expect(result.accessTokens.length).toBeGreaterThan(0);
  });
});
