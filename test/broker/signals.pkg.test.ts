/**
 * Issue 23: signals reach `tokenbroker serve` as the docs show them. The built bin names its process
 * `tokenbroker` (so `pidof tokenbroker` finds it), writes `--pid-file`, reloads on SIGHUP sent to that
 * pid, and exits promptly on SIGTERM even while a client holds a connection that never sent a request
 * (before, the broker waited for that client to hang up).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
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

/** The pids `pidof tokenbroker` lists, or undefined where there is no pidof (not Linux, not installed). */
function pidof(name: string): number[] | undefined {
  try {
    return execFileSync('pidof', [name], { encoding: 'utf8' }).trim().split(/\s+/).map(Number);
  } catch (error) {
    const status = (error as { status?: number }).status;
    return status === 1 ? [] : undefined; // 1: none found
  }
}

describe('tokenbroker serve, signals', () => {
  it('is called tokenbroker, writes --pid-file, reloads on SIGHUP to that pid, stops on SIGTERM despite an unused connection', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenbroker-signals-'));
    const file = join(dir, 'broker.json');
    const pidFile = join(dir, 'broker.pid');
    writeFileSync(file, JSON.stringify(baseConfig(emulator)));
    const serve = await spawnServe(file, ENV, [], ['--pid-file', pidFile]);
    let socket: Socket | undefined;
    try {
      const pid = serve.child.pid!;
      expect(readFileSync(pidFile, 'utf8')).toBe(`${pid}\n`);
      if (process.platform === 'linux') {
        expect(readFileSync(`/proc/${pid}/comm`, 'utf8').trim()).toBe('tokenbroker');
        const found = pidof('tokenbroker');
        if (found !== undefined) expect(found).toContain(pid);
        else console.info('[signals] pidof is not installed: checked /proc/<pid>/comm only');
      }
      const headers = { authorization: `Bearer ${KEYS.billing}` };
      expect((await fetch(`${serve.url}/v1/tokens/ap`, { headers })).status).toBe(200);

      const from = serve.stdout().length;
      process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGHUP');
      await serve.waitFor(/config reloaded/, from);

      // A connection that sends nothing (a pre-opened pool connection, a load balancer's TCP check).
      const { port, hostname } = new URL(serve.url);
      socket = connect(Number(port), hostname);
      await new Promise((resolve) => socket!.once('connect', resolve));
      const stoppedAt = Date.now();
      process.kill(pid, 'SIGTERM');
      const { code } = await serve.exited;
      const tookMs = Date.now() - stoppedAt;
      console.info(`[signals] SIGTERM to exit with an unused connection open: ${tookMs} ms`);
      expect(code).toBe(0);
      // Before the fix it waited for the client (this one would have waited forever); 5 s is generous.
      expect(tookMs).toBeLessThan(5_000);
      expect(existsSync(pidFile)).toBe(false);
    } finally {
      socket?.destroy();
      if (serve.child.exitCode === null) serve.child.kill('SIGKILL');
    }
  });

  it('started through npm (npx, npm run), it says at once that signals sent to npm will not reach it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenbroker-signals-npm-'));
    const file = join(dir, 'broker.json');
    writeFileSync(file, JSON.stringify(baseConfig(emulator)));
    const serve = await spawnServe(file, { ...ENV, npm_command: 'exec' });
    try {
      // stderr is its own pipe: its line may arrive just after stdout's startup line.
      for (let i = 0; i < 50 && !serve.stderr().includes('started through npm'); i++) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(serve.stderr()).toContain('tokenbroker: warning: started through npm (npm exec): SIGHUP and SIGTERM sent to npm do not reach the broker');
    } finally {
      serve.child.kill('SIGTERM');
      expect((await serve.exited).code).toBe(0);
    }
  });
});
