/**
 * `npm run load:broker`: autocannon against the credential broker and against a bare Fastify server
 * that returns constant JSON on the same route, in the same run, on the same machine, in alternating
 * rounds. Reports each round's broker/bare ratio, their median (the figure that decides: target ≥ 70 %)
 * and spread, CPU time per request, p99, the load average, and the upstream token requests the emulator
 * counted after the first (target 0). Writes bench/results/broker-latest.md.
 *
 * Each server runs in a child process of its own (this script, with `child <kind>`), so autocannon and
 * the emulator do not share its event loop. The broker is the built package (`dist/`, which
 * `npm run load:broker` builds first), configured as in production: API-key
 * authentication, the failed-authentication throttle, allow-lists, the audit log (on by default: one
 * JSON line per token request, to stdout through the broker's own asynchronous destination; the
 * child's stdout is /dev/null), x-request-id, request and per-consumer counting (with the latency
 * histogram) for /metrics.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { cpuOf, loadAutocannon, median, serveParent, startChild as startServer, stopChild, type Autocannon, type AutocannonResult } from './load-children.js';

const SCRIPT = fileURLToPath(import.meta.url);
// stdout to /dev/null: the broker's log and audit lines go there.
const startChild = (kind: 'broker' | 'bare', env: Record<string, string>) => startServer(SCRIPT, kind, env, { stdout: 'ignore', profile: true });
/** Rounds per target (each target gets one per round, in alternating order). */
const ROUNDS = Number(process.env.LOAD_ROUNDS ?? 7);
/** Seconds per target over all rounds. */
const DURATION_S = Number(process.env.LOAD_DURATION_S ?? 14);
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS ?? 50);
const KEY = 'tbk_load_test_consumer_key_5f1e2d3c4b5a69788796a5b4';
const TOKEN = 'f'.repeat(56);

if (process.argv[2] === 'child') await child(process.argv[3] as 'broker' | 'bare');
else await main();

// ---------------------------------------------------------------------------------------------------
// The servers

async function child(kind: 'broker' | 'bare'): Promise<void> {
  let url: string;
  let close: () => Promise<void>;
  if (kind === 'bare') {
    const { default: Fastify } = await import('fastify');
    const app = Fastify();
    const body = { access_token: TOKEN, token_type: 'Bearer', expires_at: new Date(Date.now() + 3_600_000).toISOString(), expires_in: 3600 };
    app.get('/v1/tokens/:provider', async (_request, reply) => {
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      return body;
    });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
    close = () => app.close();
  } else {
    const { createBroker, keyDigest } = await import('../dist/apps/broker/index.js');
    const base = process.env.EMULATOR_AP_BASE_URL!;
    // A realistic consumer list: the key is checked against every consumer's digest on each request.
    const consumers = Array.from({ length: 20 }, (_, i) => ({ name: `service-${i}`, keySha256: keyDigest(`${KEY}-${i}`), providers: ['ap'] }));
    consumers.push({ name: 'load', keySha256: keyDigest(KEY), providers: ['ap'] });
    const broker = createBroker(
      {
        listen: { host: '127.0.0.1', port: 0 },
        ops: { host: '127.0.0.1', port: 0 },
        store: { type: 'memory' },
        providers: { ap: { type: 'alternative-payments', clientId: 'ap-sample-client', clientSecretEnv: 'AP_SECRET', baseUrl: base } },
        consumers,
        ...(process.env.BROKER_LOG_LEVEL === undefined ? {} : { logLevel: process.env.BROKER_LOG_LEVEL as 'warn' }),
      },
      // No destination given: the log and the audit lines go to stdout (this child's is /dev/null)
      // through the destination the broker opens itself, as in production.
      { env: process.env },
    );
    url = await broker.listen();
    close = () => broker.close();
  }
  serveParent(url, close);
}

// ---------------------------------------------------------------------------------------------------
// The measurement

/** Rounds of one target as one result: requests/s averaged over the whole time, the worst p99. */
function combine(rounds: readonly AutocannonResult[]): AutocannonResult {
  const sum = (f: (r: AutocannonResult) => number) => rounds.reduce((total, r) => total + f(r), 0);
  return {
    requests: { average: sum((r) => r.requests.average) / rounds.length, total: sum((r) => r.requests.total) },
    latency: {
      p50: Math.max(...rounds.map((r) => r.latency.p50)),
      p99: Math.max(...rounds.map((r) => r.latency.p99)),
      average: sum((r) => r.latency.average) / rounds.length,
    },
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
  };
}

/** One round: each target's result and CPU µs per request. */
interface Round {
  readonly bare: AutocannonResult;
  readonly broker: AutocannonResult;
  readonly cpu: { readonly bare: number; readonly broker: number };
}

/** A ratio as a percentage with one decimal. */
function pct(ratio: number): string {
  return `${(ratio * 100).toFixed(1)} %`;
}

/** The load average, 1 / 5 / 15 minutes. */
function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');
}

/** Runs the alternating rounds against both servers. */
async function measure(
  autocannon: Autocannon,
  servers: Record<'bare' | 'broker', { url: string; process: ChildProcess }>,
  headers: Record<string, string>,
): Promise<Round[]> {
  const urlOf = (kind: 'bare' | 'broker') => `${servers[kind].url}/v1/tokens/ap`;
  console.log(`warming up both (2 s each), then ${ROUNDS} alternating rounds of ${DURATION_S / ROUNDS} s per target, ${CONNECTIONS} connections…`);
  for (const kind of ['bare', 'broker'] as const) await autocannon({ url: urlOf(kind), connections: CONNECTIONS, duration: 2, headers });
  const rounds: Round[] = [];
  // Alternating short rounds, the order swapped each time: both targets see the same background load.
  for (let round = 0; round < ROUNDS; round++) {
    const results = {} as Record<'bare' | 'broker', AutocannonResult>;
    const cpu = { bare: 0, broker: 0 };
    for (const kind of round % 2 === 0 ? (['bare', 'broker'] as const) : (['broker', 'bare'] as const)) {
      const cpuBefore = await cpuOf(servers[kind].process);
      results[kind] = await autocannon({ url: urlOf(kind), connections: CONNECTIONS, duration: DURATION_S / ROUNDS, headers });
      cpu[kind] = ((await cpuOf(servers[kind].process)) - cpuBefore) / results[kind].requests.total;
    }
    rounds.push({ bare: results.bare, broker: results.broker, cpu });
    const ratio = results.broker.requests.average / results.bare.requests.average;
    console.log(
      `  round ${round + 1}: bare ${Math.round(results.bare.requests.average)} req/s, broker ${Math.round(results.broker.requests.average)} req/s → ${pct(ratio)}` +
        ` (CPU/request bare ${cpu.bare.toFixed(1)} µs, broker ${cpu.broker.toFixed(1)} µs)`,
    );
  }
  return rounds;
}

async function main(): Promise<void> {
  const autocannon = loadAutocannon();
  const { startEmulator, SAMPLE_CLIENTS } = await import('../src/apps/emulator/index.js');
  const emulator = await startEmulator({ ban: false });
  const [apClient] = SAMPLE_CLIENTS;
  const loadAtStart = load();

  const env = { EMULATOR_AP_BASE_URL: emulator.alternativePaymentsBaseUrl, AP_SECRET: apClient.clientSecret };
  const servers = { bare: await startChild('bare', env), broker: await startChild('broker', env) };
  const headers = { authorization: `Bearer ${KEY}` };
  let upstreamAfterFirst: number;
  let rounds: Round[];
  try {
    for (const kind of ['bare', 'broker'] as const) {
      const first = await fetch(`${servers[kind].url}/v1/tokens/ap`, { headers });
      if (first.status !== 200) throw new Error(`${kind}: first request answered ${first.status}`);
      await first.arrayBuffer();
    }
    const afterFirst = emulator.stats().providers['alternative-payments'].tokenRequests;
    rounds = await measure(autocannon, servers, headers);
    upstreamAfterFirst = emulator.stats().providers['alternative-payments'].tokenRequests - afterFirst;
  } finally {
    await stopChild(servers.bare.process);
    await stopChild(servers.broker.process);
  }
  const loadAtEnd = load();
  await emulator.close();
  const upstreamTotal = emulator.stats().providers['alternative-payments'].tokenRequests;

  const bare = combine(rounds.map((r) => r.bare));
  const broker = combine(rounds.map((r) => r.broker));
  const ratios = rounds.map((r) => r.broker.requests.average / r.bare.requests.average);
  const medianRatio = median(ratios);
  // CPU time per answered request: what each server costs, independent of how much CPU the machine gave it.
  const cpuRatios = rounds.map((r) => r.cpu.bare / r.cpu.broker);
  const medianCpu = { bare: median(rounds.map((r) => r.cpu.bare)), broker: median(rounds.map((r) => r.cpu.broker)) };
  const spread = `${pct(Math.min(...ratios))} – ${pct(Math.max(...ratios))}`;
  const cpuSpread = `${pct(Math.min(...cpuRatios))} – ${pct(Math.max(...cpuRatios))}`;
  // The median round decides: one round that the machine's other work slowed or sped up cannot.
  const pass = medianRatio >= 0.7 && upstreamAfterFirst === 0 && broker.non2xx === 0 && broker.errors === 0;

  const row = (name: string, r: AutocannonResult) =>
    `| ${name} | ${Math.round(r.requests.average).toLocaleString('en-US')} | ${r.latency.p50} | ${r.latency.p99} | ${r.requests.total.toLocaleString('en-US')} | ${r.non2xx} | ${r.errors + r.timeouts} |`;
  const report = [
    '# Broker load test',
    '',
    `Run by \`npm run load:broker\` on ${new Date().toISOString()}: Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'};`,
    `load average ${loadAtStart} at the start, ${loadAtEnd} at the end (1 / 5 / 15 min).`,
    `autocannon 9, ${CONNECTIONS} connections, \`GET /v1/tokens/ap\`, ${DURATION_S} s per target in ${ROUNDS} alternating rounds after a 2 s warm-up each`,
    '(alternating, the order swapped each round, so both targets share whatever else the machine is doing). Each server runs',
    'in its own child process, autocannon and the emulator in the parent.',
    '',
    '| round | bare req/s | broker req/s | broker / bare | CPU µs/request bare / broker | CPU ratio |',
    '|---:|---:|---:|---:|---:|---:|',
    ...rounds.map(
      (r, i) =>
        `| ${i + 1} | ${Math.round(r.bare.requests.average).toLocaleString('en-US')} | ${Math.round(r.broker.requests.average).toLocaleString('en-US')} | ${pct(ratios[i]!)} | ${r.cpu.bare.toFixed(1)} / ${r.cpu.broker.toFixed(1)} | ${pct(cpuRatios[i]!)} |`,
    ),
    '',
    `**Broker / bare, median of the ${ROUNDS} rounds: ${pct(medianRatio)}** (target ≥ 70 %); spread ${spread}.`,
    '',
    `CPU time per request (user + system, the server process only), median of the rounds: bare ${medianCpu.bare.toFixed(1)} µs, broker ${medianCpu.broker.toFixed(1)} µs; per round the ratio bare / broker — the broker's throughput ceiling relative to bare Fastify's when both are CPU-bound — has median ${pct(median(cpuRatios))}, spread ${cpuSpread}. It depends less than requests/s on how much CPU the machine gave each server.`,
    '',
    '| target | requests/s (mean of rounds) | p50 (ms, worst round) | p99 (ms, worst round) | requests | non-2xx | errors |',
    '|---|---:|---:|---:|---:|---:|---:|',
    row('bare Fastify, constant JSON', bare),
    row('tokenbroker broker', broker),
    '',
    `Upstream token requests counted by the emulator after the first: **${upstreamAfterFirst}** (target 0); ${upstreamTotal} in the whole run.`,
    '',
    'The broker did everything it does in production on each request: API-key check (SHA-256, then a constant-time',
    'comparison against each of 21 consumers, remembered for a key that matched), failed-authentication throttle,',
    'allow-list, cached token from the memory store, response schema serialisation, `Cache-Control: no-store`,',
    '`x-request-id`, request and per-consumer counting (latency histogram included) for /metrics and one JSON **audit',
    "line** per request (to stdout, the child's being /dev/null, through the asynchronous destination the broker opens).",
    'The bare server answers the same route with a constant object and no logger.',
    '',
    `Result: ${pass ? 'PASS' : 'FAIL'}.`,
    '',
  ].join('\n');
  mkdirSync(new URL('results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('results/broker-latest.md', import.meta.url), report);
  console.log(
    `\nbroker/bare median of ${ROUNDS} rounds ${pct(medianRatio)} (spread ${spread}); CPU per request bare ${medianCpu.bare.toFixed(1)} µs / broker ${medianCpu.broker.toFixed(1)} µs,` +
      ` ratio median ${pct(median(cpuRatios))} (spread ${cpuSpread}); load average ${loadAtStart} → ${loadAtEnd}; upstream after first ${upstreamAfterFirst} → ${pass ? 'PASS' : 'FAIL'}`,
  );
  console.log('written to bench/results/broker-latest.md');
  process.exitCode = pass ? 0 : 1;
}
