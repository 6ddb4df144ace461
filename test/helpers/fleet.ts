/**
 * Spawns fleet workers (test/helpers/fixtures/fleet-worker.mjs): separate Node processes running the
 * built package against one shared store — a SQLite file (`path`) or Redis (`redisUrl` or `connection`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

const WORKER = fileURLToPath(new URL('./fixtures/fleet-worker.mjs', import.meta.url));

export interface WorkerConfig {
  /** The SQLite store's file; without it the worker uses Redis. */
  readonly path?: string;
  /** Redis: a single node by URL, unless `connection` says otherwise. */
  readonly redisUrl?: string;
  /** Redis: the connection part of redisStore's options (`{ cluster }`, `{ sentinels, name }`). */
  readonly connection?: Record<string, unknown>;
  /** Shifts this process's Date.now() (ms): a host whose clock is off. */
  readonly clockOffsetMs?: number;
  readonly provider: { readonly baseUrl: string; readonly clientId: string; readonly clientSecret: string };
  readonly manager?: Record<string, unknown>;
  /** The store's settings besides its connection or file. */
  readonly store?: Record<string, unknown>;
  readonly mode?: 'cold' | 'force';
  readonly concurrency?: number;
  readonly forceCount?: number;
  readonly barrier?: boolean;
}

export interface WorkerResult {
  /** The manager's warning messages ("shared store unavailable…" among them). */
  readonly warnings: string[];
  readonly ms: number;
  readonly accessTokens: string[];
  readonly errors: Array<{ name?: string; code?: string; retryAfterMs?: number; message: string }>;
  readonly errorCount: number;
  readonly stats: { requestsSent: number; guardRefusals: number; tokensIssued: number };
}

export interface Worker {
  readonly process: ChildProcess;
  /** Resolves when the worker waits at the barrier. */
  readonly ready: Promise<void>;
  /** Resolves right before the worker makes its calls. */
  readonly requesting: Promise<void>;
  /** Releases the barrier. */
  go(): void;
  readonly result: Promise<WorkerResult>;
  /** Exit code, or the signal name. */
  readonly exit: Promise<number | string>;
}

export function spawnWorker(config: WorkerConfig): Worker {
  const child = spawn(process.execPath, [WORKER, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exit = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  let onReady!: () => void;
  let onRequesting!: () => void;
  let onResult!: (result: WorkerResult) => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const requesting = new Promise<void>((resolve) => (onRequesting = resolve));
  const result = new Promise<WorkerResult>((resolve, reject) => {
    onResult = resolve;
    void exit.then((code) => reject(new Error(`worker exited (${String(code)}) without a result: ${stderr.slice(-2_000)}`)));
  });
  result.catch(() => {});
  createInterface({ input: child.stdout }).on('line', (line) => {
    let message: { type?: string } & Partial<WorkerResult>;
    try {
      message = JSON.parse(line) as typeof message;
    } catch {
      return;
    }
    if (message.type === 'ready') onReady();
    if (message.type === 'requesting') onRequesting();
    if (message.type === 'result') onResult(message as WorkerResult);
  });
  return { process: child, ready, requesting, go: () => child.stdin.end('go\n'), result, exit };
}

/** Starts `count` workers, waits until all have reached the store, then releases them together. */
export async function runFleet(count: number, config: WorkerConfig): Promise<{ results: WorkerResult[]; exits: Array<number | string> }> {
  const workers = Array.from({ length: count }, () => spawnWorker({ ...config, barrier: true }));
  try {
    await Promise.all(workers.map((worker) => worker.ready));
    for (const worker of workers) worker.go();
    const results = await Promise.all(workers.map((worker) => worker.result));
    const exits = await Promise.all(workers.map((worker) => worker.exit));
    return { results, exits };
  } finally {
    for (const worker of workers) if (worker.process.exitCode === null) worker.process.kill('SIGKILL');
  }
}

/**
 * The fleet acceptance: `count` cold workers of `config` released together share one token from one
 * request upstream (`tokenRequests` counts them), every worker exits 0, and one more worker started
 * afterwards (`lateConcurrency` calls) gets the same token without a request. Logs the slowest worker
 * under `label`; returns the fleet's results for checks of the caller's own.
 */
export async function expectOneTokenAcrossFleet(
  label: string,
  count: number,
  config: WorkerConfig,
  tokenRequests: () => number,
  lateConcurrency: number,
): Promise<WorkerResult[]> {
  const { results, exits } = await runFleet(count, config);
  const tokens = new Set(results.flatMap((result) => result.accessTokens));
  // Printed before the checks: a store fallback behind a second request shows in the log.
  console.info(`[${label}] warnings: ${JSON.stringify(results.flatMap((result) => result.warnings))}`);
  console.info(
    `[${label}] ${count}×${config.concurrency ?? 1} cold calls: ${tokenRequests()} token request; slowest process ${Math.max(...results.map((r) => r.ms))} ms`,
  );
  expect(results.map((result) => result.errorCount)).toEqual(Array(count).fill(0));
  expect(tokens.size).toBe(1);
  expect(tokenRequests()).toBe(1);
  expect(results.reduce((sum, result) => sum + result.stats.requestsSent, 0)).toBe(1);
  expect(exits).toEqual(Array(count).fill(0));

  const late = spawnWorker({ ...config, concurrency: lateConcurrency });
  const lateResult = await late.result;
  expect(lateResult.accessTokens).toEqual([...tokens]);
  expect(lateResult.stats.requestsSent).toBe(0);
  expect(tokenRequests()).toBe(1);
  expect(await late.exit).toBe(0);
  return results;
}
