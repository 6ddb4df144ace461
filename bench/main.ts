/**
 * `npm run bench`: tokenbroker against the floor and the peers, in one run, on loopback only.
 *
 *   1. warm hit          bench/warm.ts            (tinybench, in this process)
 *   2. cold stampede     bench/stampede.ts        (10,000 concurrent calls, server-counted requests)
 *   3. a simulated day   bench/day-child.ts       (child process, @sinonjs/fake-timers)
 *   4. memory            bench/memory-child.ts    (one child per library, --expose-gc)
 *   5. client overhead   bench/client-overhead.ts (tinybench, tokens.client vs plain ky)
 *   7. footprint         bench/footprint.ts       (packages, disk, import time and RSS, fresh projects)
 *   6. SQLite store      bench/sqlite.ts          (warm hit beside the memory store; cold from another process's token)
 *   8. pacing            bench/pacing.ts          (tokens.fetch with a free slot, pacing on vs off, per store)
 *
 * The token server runs in its own process (bench/token-server-child.ts) on 127.0.0.1. Writes
 * bench/results/latest.{md,json}, docs/performance.svg and the generated part of docs/performance.md.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { promisify } from 'node:util';
import { measureClientOverhead } from './client-overhead.js';
import type { DayResult } from './day-child.js';
import type { MemoryResult } from './memory-child.js';
import { chartSvg, evaluateTargets, printSummary, resultsMarkdown, type Results } from './report.js';
import { measureStampede } from './stampede.js';
import { ALL } from './subjects.js';
import { measureSqlite } from './sqlite.js';
import { spawnTokenServer } from './token-server.js';
import { measureWarm } from './warm.js';
import { measurePacing, pacingMarkdown, type PacingRow } from './pacing.js';

const run = promisify(execFile);
const root = new URL('../', import.meta.url);
const started = performance.now();
const loadAverage = os.loadavg();

function step(message: string): void {
  console.log(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${message}`);
}

async function packageVersion(name: string): Promise<string> {
  const path = name === 'tokenbroker' ? new URL('package.json', root) : new URL(`node_modules/${name}/package.json`, root);
  return (JSON.parse(await readFile(path, 'utf8')) as { version: string }).version;
}

/**
 * Runs a bench script in a child process on this Node, and parses the JSON line it prints last. The
 * script runs under tsx unless `nodeFlags` say otherwise (the memory child uses Node's own type stripping).
 */
async function child<T>(script: string, args: readonly string[], nodeFlags: readonly string[] = ['--import', 'tsx']): Promise<T> {
  const { stdout } = await run(process.execPath, [...nodeFlags, new URL(script, import.meta.url).pathname, ...args], {
    cwd: root.pathname,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 120_000,
  });
  const line = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as T;
}

const MEMORY_NOTES: Record<string, string> = {
  floor: 'a Map entry and a token object { accessToken, tokenType, expiresAt, issuedAt }',
  tokenbroker:
    'a provider (defineProvider), its registration and counters, the LRU entry with the token and its resolved promise, the issuance-guard and ledger entries',
  'tokenbroker alternativePayments': 'the same with the built-in alternativePayments() provider, its requests answered by an in-process fetch',
  'tokenbroker autopay': 'the same with the built-in autopay() provider, its requests answered by an in-process fetch',
  'tokenbroker oauth2': 'the same with the built-in oauth2() provider (tokenUrl, client_secret auto) answered by an in-process fetch',
  '@badgateway/oauth2-client': 'an OAuth2Client, an OAuth2Fetch and its token',
  'google-auth-library': 'an OAuth2Client holding its credentials (access and refresh token)',
  '@azure/msal-node': 'a ConfidentialClientApplication (one per client id) and its in-memory token cache',
};

// ---------------------------------------------------------------------------------------------------

const versions: Record<string, string> = {};
for (const name of ['tokenbroker', ...ALL.slice(1).map((s) => s.pkg), 'tinybench', '@sinonjs/fake-timers', 'ky', 'lru-cache']) {
  versions[name] = await packageVersion(name);
}
step(
  `Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, load ${loadAverage.map((l) => l.toFixed(2)).join(' ')}`,
);

const server = await spawnTokenServer();
step(`token server on ${server.origin}`);
let warm, stampede, client, sqlite;
try {
  step('1/5 warm hit');
  warm = await measureWarm(server);
  step('2/5 cold stampede');
  stampede = await measureStampede(server);
  step('5/5 client overhead');
  client = await measureClientOverhead(server);
  step('6 SQLite store');
  sqlite = await measureSqlite(server);
} finally {
  await server.close();
}

step('8 pacing (memory, SQLite, Redis when redis-server is installed)');
let pacing: PacingRow[];
{
  const { redisServerBinary, startRedisServer } = await import('../test/redis/redis-server.js');
  const redis = redisServerBinary === undefined ? undefined : await startRedisServer();
  try {
    pacing = await measurePacing(redis?.url);
  } finally {
    await redis?.close();
  }
}
console.log(pacingMarkdown(pacing));

step('3/5 simulated day');
const day = await child<DayResult[]>('./day-child.ts', []);

step('4/5 memory (of the built package: building dist)');
await run(process.execPath, [new URL('node_modules/typescript/bin/tsc', root).pathname, '-p', 'tsconfig.build.json'], { cwd: root.pathname });
const memory: (MemoryResult & { note?: string })[] = [];
for (const name of [
  'floor',
  'tokenbroker',
  'tokenbroker alternativePayments',
  'tokenbroker autopay',
  'tokenbroker oauth2',
  '@badgateway/oauth2-client',
  'google-auth-library',
  '@azure/msal-node',
]) {
  const result = await child<MemoryResult>('./memory-child.ts', [name, '10000'], ['--expose-gc', '--disable-warning=ExperimentalWarning']);
  memory.push({ ...result, note: MEMORY_NOTES[name] });
}
for (const name of ['openid-client', 'simple-oauth2']) {
  memory.push({
    name,
    credentials: 10_000,
    bytesPerCredential: Number.NaN,
    heapBefore: 0,
    heapAfter: 0,
    note: 'no cache: keeps no token, so nothing to measure (each call is a token request)',
  });
}

const targets = evaluateTargets(warm, stampede, day, memory, client);
const results: Results = {
  environment: {
    date: new Date().toISOString(),
    machine: {
      cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
      cores: os.availableParallelism(),
      memoryBytes: os.totalmem(),
      platform: os.platform(),
      arch: os.arch(),
      loadAverage,
    },
    node: process.version,
    versions,
    durationSeconds: (performance.now() - started) / 1000,
  },
  warm,
  stampede,
  day,
  memory,
  client,
  sqlite,
  targets,
};

printSummary(results);

const resultsDir = new URL('bench/results/', root);
await mkdir(resultsDir, { recursive: true });
await writeFile(
  new URL('latest.json', resultsDir),
  `${JSON.stringify(results, (_key, value: unknown) => (typeof value === 'number' && Number.isNaN(value) ? null : value), 2)}\n`,
);
await writeFile(
  new URL('latest.md', resultsDir),
  `# tokenbroker benchmark results\n\nGenerated by \`npm run bench\` (bench/main.ts); see docs/performance.md for the method.\n\n${resultsMarkdown(results, 2)}` +
    `\n## Pacing: a call with a free slot, pacing on vs off (bench/pacing.ts)\n\n${pacingMarkdown(pacing)}`,
);
await writeFile(new URL('docs/performance.svg', root), chartSvg(results));

// The generated part of docs/performance.md, between its markers.
const docPath = new URL('docs/performance.md', root);
const START = '<!-- bench:results:start -->';
const END = '<!-- bench:results:end -->';
try {
  const doc = await readFile(docPath, 'utf8');
  const from = doc.indexOf(START);
  const to = doc.indexOf(END);
  if (from >= 0 && to > from) {
    const generated = `${START}\n<!-- Generated by npm run bench (bench/report.ts); edits here are overwritten. -->\n\n${resultsMarkdown(results, 3)}\n${END}`;
    await writeFile(docPath, doc.slice(0, from) + generated + doc.slice(to + END.length));
  } else {
    console.warn('docs/performance.md has no results markers; left as it is');
  }
} catch (error) {
  console.warn(`docs/performance.md not updated: ${String(error)}`);
}
step('wrote bench/results/latest.md, bench/results/latest.json, docs/performance.svg, docs/performance.md');

// The footprint last: it packs the package and installs fresh projects, so it runs as its own script.
step('7 footprint (bench/footprint.ts)');
await run(process.execPath, ['--import', 'tsx', new URL('footprint.ts', import.meta.url).pathname], {
  cwd: root.pathname,
  maxBuffer: 16 * 1024 * 1024,
  timeout: 600_000,
});
step('wrote bench/results/footprint.{md,json} and the footprint part of docs/performance.md');
