/**
 * 6. The SQLite store (`tokenbroker/sqlite`), two figures:
 *
 * - Warm hit with `sqliteStore` behind the manager's memory cache, beside the memory store, in the
 *   same run and the same way as bench/warm.ts (batches of 1,000 awaited calls, median batch, best of
 *   three interleaved rounds). The warm hit never touches the file, so the two should be equal within
 *   noise.
 * - Cold path served by another process's token: a child process fetches the token and stores it in
 *   the file; then, sample after sample, a new manager on a new store (as a restarted process or a
 *   command run has) gets its first token — opening the file and reading the row, no token request.
 *
 * Part of `npm run bench`; `npx tsx bench/sqlite.ts` runs this part alone and prints its table.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Bench } from 'tinybench';
import { createTokenManager, oauth2, type TokenStore } from '../src/index.js';
import { sqliteStore } from '../src/stores/sqlite/index.js';
import { CLIENT_ID, CLIENT_SECRET } from './subjects.js';
import { spawnTokenServer, type RemoteTokenServer } from './token-server.js';

export interface SqliteBenchResult {
  readonly warm: {
    /** ns per warm getToken, memory store. */
    readonly memoryNs: number;
    /** ns per warm getToken, SQLite store behind the memory cache. */
    readonly sqliteNs: number;
    /** sqliteNs / memoryNs. */
    readonly ratio: number;
    /** Token requests per warm call with the SQLite store, counted by the server. */
    readonly requestsPerCall: number;
  };
  readonly cold: {
    readonly samples: number;
    /** The first getToken of a new manager on a just-opened store: the cold path itself. */
    readonly p50Ms: number;
    readonly p99Ms: number;
    readonly maxMs: number;
    /** Opening the store (sqliteStore(): the file, its checks, WAL, statements), p50 / p99. */
    readonly openP50Ms: number;
    readonly openP99Ms: number;
    /** createTokenManager() itself, p50 (the same with any store). */
    readonly managerP50Ms: number;
    /** Token requests the samples sent (0: each was served by the other process's token). */
    readonly tokenRequests: number;
  };
}

const BATCH = 1_000;
const COLD_SAMPLES = 300;
let sink: unknown;

function manager(tokenUrl: string, store?: TokenStore) {
  return createTokenManager({ providers: { bench: oauth2({ tokenUrl, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }) }, ...(store ? { store } : {}) });
}

export async function measureSqlite(server: RemoteTokenServer, rounds = 3): Promise<SqliteBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenbroker-bench-sqlite-'));
  const file = join(dir, 'tokens.sqlite');
  try {
    // Another process fetches the token and stores it in the file.
    await promisify(execFile)(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./sqlite-seed-child.ts', import.meta.url)), file, server.tokenUrl], {
      timeout: 60_000,
    });

    // Warm: two managers, each with its token cached; one loop literal each (see bench/warm.ts).
    const memory = manager(server.tokenUrl);
    const sqlite = manager(server.tokenUrl, sqliteStore({ path: file }));
    await memory.getToken('bench');
    await sqlite.getToken('bench');
    const loops = {
      memory: async () => {
        for (let k = 0; k < BATCH; k++) sink = await memory.getToken('bench');
      },
      sqlite: async () => {
        for (let k = 0; k < BATCH; k++) sink = await sqlite.getToken('bench');
      },
    };
    const best = { memory: Number.POSITIVE_INFINITY, sqlite: Number.POSITIVE_INFINITY };
    const before = await server.tokenRequests();
    let calls = 0;
    for (let round = 0; round < rounds; round++) {
      for (const name of ['memory', 'sqlite'] as const) {
        const bench = new Bench({ name: `warm ${name}`, time: 400, iterations: 20, warmupTime: 150, warmupIterations: 5 });
        bench.add(name, loops[name]);
        const [task] = await bench.run();
        const result = task?.result;
        if (result === undefined || !('latency' in result)) throw new Error(`warm ${name}: ${JSON.stringify(result)}`);
        best[name] = Math.min(best[name], (result.latency.p50 * 1e6) / BATCH);
        if (name === 'sqlite') calls += result.latency.samplesCount * BATCH;
      }
    }
    const warmRequests = (await server.tokenRequests()) - before;
    await memory.close();
    await sqlite.close();

    // Cold, served by the other process's token: a new manager and store per sample.
    const coldBefore = await server.tokenRequests();
    const times: number[] = [];
    const opens: number[] = [];
    const managers: number[] = [];
    for (let sample = 0; sample < COLD_SAMPLES; sample++) {
      let started = performance.now();
      const store = sqliteStore({ path: file });
      opens.push(performance.now() - started);
      started = performance.now();
      const tokens = manager(server.tokenUrl, store);
      managers.push(performance.now() - started);
      started = performance.now();
      sink = await tokens.getToken('bench');
      times.push(performance.now() - started);
      await tokens.close();
    }
    const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]!;
    const at = (q: number) => quantile(times, q);
    void sink;
    return {
      warm: { memoryNs: best.memory, sqliteNs: best.sqlite, ratio: best.sqlite / best.memory, requestsPerCall: warmRequests / Math.max(1, calls) },
      cold: {
        samples: COLD_SAMPLES,
        p50Ms: at(0.5),
        p99Ms: at(0.99),
        maxMs: quantile(times, 1),
        openP50Ms: quantile(opens, 0.5),
        openP99Ms: quantile(opens, 0.99),
        managerP50Ms: quantile(managers, 0.5),
        tokenRequests: (await server.tokenRequests()) - coldBefore,
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The section of the results page. */
export function sqliteMarkdown(result: SqliteBenchResult, headingLevel = 3): string {
  const h = '#'.repeat(headingLevel);
  const ns = (value: number) => `${value.toFixed(1)} ns`;
  const ms = (value: number) => `${value.toFixed(2)} ms`;
  return [
    `${h} 6. SQLite store (tokenbroker/sqlite)`,
    '',
    '| measurement | memory store | SQLite store |',
    '|---|--:|--:|',
    `| warm hit, ns/op (median batch of 1,000, best of 3 interleaved rounds) | ${ns(result.warm.memoryNs)} | ${ns(result.warm.sqliteNs)} (${result.warm.ratio.toFixed(2)}×) |`,
    `| warm hit, token requests per call | 0 | ${result.warm.requestsPerCall} |`,
    '',
    `Cold path served by another process's token, ${result.cold.samples} samples, each a new store and a new manager (as a restarted process or a command run has): ` +
      `the first getToken p50 ${ms(result.cold.p50Ms)}, p99 ${ms(result.cold.p99Ms)}, max ${ms(result.cold.maxMs)}; ` +
      `before it, opening the store p50 ${ms(result.cold.openP50Ms)}, p99 ${ms(result.cold.openP99Ms)}, and createTokenManager() p50 ${ms(result.cold.managerP50Ms)}; ` +
      `${result.cold.tokenRequests} token requests.`,
    '',
  ].join('\n');
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const server = await spawnTokenServer();
  try {
    const result = await measureSqlite(server);
    console.log(sqliteMarkdown(result));
    console.log(JSON.stringify(result));
  } finally {
    await server.close();
  }
}
