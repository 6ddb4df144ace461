/**
 * Issue 22, acceptance: four processes on one SQLite file, each calling `getToken` continuously, their
 * secret in a file (secretFile); tokens of 10 s. The emulator rotates the secret with no grace, just
 * before the next refresh; one second later the new secret is written to the file (a write and a
 * rename, as a deploy tool or the kubelet does). No call fails, no caller ever gets
 * InvalidCredentialsError, each process has at most one refused token request, and tokens are issued
 * with the new secret from then on (the old one is refused by the emulator since the rotation).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SAMPLE_CLIENTS, startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { apCounts, rotateBeforeNextRefresh } from '../secret-sources/rotation-helpers.js';

const WORKER = fileURLToPath(new URL('../helpers/fixtures/rotation-worker.mjs', import.meta.url));
const [AP_CLIENT] = SAMPLE_CLIENTS;
const NEW_SECRET = 'Fleet+Rotated/=%-22-e9a0';

interface Result {
  calls: number;
  errorCount: number;
  errors: Array<{ name?: string; message: string }>;
  warnings: string[];
  stats: { requestsSent: number; failures: number; tokensIssued: number };
}

let emulator: Emulator;
let dir: string;
beforeAll(async () => {
  emulator = await startEmulator({ tokenLifetimeSeconds: { alternativePayments: 10 } });
  dir = mkdtempSync(join(tmpdir(), 'tb-rotation-fleet-'));
});
afterAll(async () => {
  await emulator.close();
  rmSync(dir, { recursive: true, force: true });
});

function startWorker(config: Record<string, unknown>) {
  const child = spawn(process.execPath, [WORKER, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const result = new Promise<Result>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as { type: string } & Result;
      if (message.type === 'ready') onReady();
      if (message.type === 'result') resolve(message);
    });
    child.once('exit', (code) => reject(new Error(`worker exited (${String(code)}) without a result: ${stderr.slice(-2000)}`)));
  });
  result.catch(() => {});
  return { child, ready, result, stop: () => child.stdin.end('stop\n') };
}

it('4 processes on one SQLite file: a rotated secret file costs no failed call, at most one refusal per process', { timeout: 90_000 }, async () => {
  const secretPath = join(dir, 'client-secret');
  writeFileSync(secretPath, `${AP_CLIENT.clientSecret}\n`);
  const config = { path: join(dir, 'tokens.sqlite'), clientId: AP_CLIENT.clientId, secretFile: secretPath, baseUrl: emulator.alternativePaymentsBaseUrl };
  const workers = Array.from({ length: 4 }, () => startWorker(config));
  try {
    await Promise.all(workers.map((worker) => worker.ready));
    const rotation = await rotateBeforeNextRefresh(emulator, AP_CLIENT.clientId, NEW_SECRET, () => {
      writeFileSync(`${secretPath}.new`, `${NEW_SECRET}\n`);
      renameSync(`${secretPath}.new`, secretPath);
    });
    // Past the old token's expiry and one refresh of the new one.
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    for (const worker of workers) worker.stop();
    const results = await Promise.all(workers.map((worker) => worker.result));
    const counts = apCounts(emulator, AP_CLIENT.clientId);
    console.info(
      `[rotation, 4 processes, SQLite, secretFile] getToken calls ${JSON.stringify(results.map((r) => r.calls))}, failed ${JSON.stringify(results.map((r) => r.errorCount))}; ` +
        `refused requests per process ${JSON.stringify(results.map((r) => r.stats.failures))} (emulator: ${counts.refused}); ` +
        `tokens issued after the rotation ${counts.tokensIssued - rotation.issuedBefore}; warnings ${JSON.stringify(results.flatMap((r) => r.warnings))}`,
    );
    expect(results.map((r) => r.errorCount)).toEqual([0, 0, 0, 0]);
    for (const result of results) expect(result.stats.failures).toBeLessThanOrEqual(1);
    expect(counts.refused).toBeLessThanOrEqual(4);
    expect(counts.tokensIssued - rotation.issuedBefore).toBeGreaterThanOrEqual(1);
    for (const result of results) expect(result.calls).toBeGreaterThan(100);
  } finally {
    for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
  }
});
