/**
 * The plumbing both load tests (`load:broker`, `load:proxy`) share: each server under test runs in a
 * child process of the test's own script (`<script> child <kind>`), reports its URL over IPC, answers
 * `'cpu'` with its CPU time so far and `'stop'` by closing and exiting.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';

/** In the child: reports `url` to the parent, then answers its `'cpu'` and `'stop'` messages. */
export function serveParent(url: string, close: () => Promise<unknown>): void {
  process.send?.({ url });
  process.on('message', (message: string) => {
    // CPU time used so far (user + system, µs): the parent divides by requests served in a round.
    if (message === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send?.({ cpuMicros: user + system });
      return;
    }
    void close().then(() => process.exit(0));
  });
}

/**
 * In the parent: forks `script child <kind>` under tsx and waits for its URL. With `LOAD_PROFILE_DIR`
 * set (and `profile` true), the child writes a CPU profile there.
 */
export async function startChild(
  script: string,
  kind: string,
  env: Record<string, string>,
  options: { readonly stdout: 'inherit' | 'ignore'; readonly profile: boolean },
): Promise<{ url: string; process: ChildProcess }> {
  const proc = fork(script, ['child', kind], {
    execArgv: [
      '--import',
      'tsx',
      ...(process.env.LOAD_PROFILE_DIR === undefined || !options.profile
        ? []
        : ['--cpu-prof', `--cpu-prof-dir=${process.env.LOAD_PROFILE_DIR}`, `--cpu-prof-name=${kind}.cpuprofile`]),
    ],
    env: { ...process.env, ...env },
    stdio: ['ignore', options.stdout, 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    proc.once('message', (message: { url: string }) => resolve(message.url));
    proc.once('exit', (code) => reject(new Error(`${kind} server exited with ${String(code)}`)));
  });
  // Never leave a server behind if this process fails.
  process.once('exit', () => proc.kill());
  return { url, process: proc };
}

/** The child's CPU time so far, in µs. */
export function cpuOf(proc: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    const onMessage = (message: { cpuMicros?: number }) => {
      if (typeof message.cpuMicros !== 'number') return;
      proc.off('message', onMessage);
      resolve(message.cpuMicros);
    };
    proc.on('message', onMessage);
    proc.send('cpu');
  });
}

/** Asks the child to close and waits for it to exit. */
export async function stopChild(proc: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.send('stop');
  await exited;
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** What autocannon reports of one run (the fields the load tests read). */
export interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

/** autocannon's programmatic API, as the load tests call it. */
export type Autocannon = (options: { url: string; connections: number; duration: number; headers?: Record<string, string> }) => Promise<AutocannonResult>;

/** Loads autocannon (CommonJS, no types of its own). */
export function loadAutocannon(): Autocannon {
  return createRequire(import.meta.url)('autocannon') as Autocannon;
}
