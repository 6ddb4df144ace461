/**
 * Starts a real redis-server for the tests: loopback, a free port, no persistence. When the binary is
 * missing the Redis suites are skipped, loudly (`.ci/run` installs it, so CI always runs them).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/**
 * Absolute path of redis-server, or undefined when it is not installed. `TOKENBROKER_TEST_REDIS_SERVER`
 * names another binary (a path that does not exist shows what happens without one).
 */
export const redisServerBinary: string | undefined = (() => {
  const override = process.env.TOKENBROKER_TEST_REDIS_SERVER;
  if (override !== undefined) return existsSync(override) ? override : undefined;
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path !== '' ? path : undefined;
})();

/** True when the Redis suites must be skipped; says so once per file. */
export function skipWithoutRedis(suite: string): boolean {
  if (redisServerBinary !== undefined) return false;
  console.warn(`[${suite}] SKIPPED: redis-server is not on PATH. Install it (apt-get install redis-server) to run the Redis tests.`);
  return true;
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Stops the server (SIGKILL, so nothing is saved or flushed gracefully) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open, nothing answers. */
  pause(): void;
  /** Thaws it (SIGCONT). */
  resume(): void;
  /** A plain client for looking inside; closed by `stop`/`close`. */
  client(): Redis;
  /** Stops the server and closes helper clients. */
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

// Should a test crash before its close(), its servers still die with the test process.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startRedisServer(): Promise<RedisServer> {
  if (redisServerBinary === undefined) throw new Error('redis-server is not installed');
  const binary = redisServerBinary;
  const port = await freePort();
  let child: ChildProcess | undefined;
  const clients: Redis[] = [];

  const start = async (): Promise<void> => {
    const proc = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${output.slice(-500)}`)), 10_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          proc.stdout?.off('data', onData);
          resolve();
        }
      };
      proc.stdout?.on('data', onData);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${String(code)}: ${output.slice(-500)}`));
      });
    });
    // Keep draining its output so it never blocks on a full pipe.
    proc.stdout?.resume();
    proc.stderr?.resume();
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGCONT');
    proc.kill('SIGKILL');
    await exited;
  };

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    client() {
      const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, lazyConnect: false });
      client.on('error', () => {});
      clients.push(client);
      return client;
    },
    async close() {
      for (const client of clients) client.disconnect();
      await stop();
    },
  };
}
