/**
 * `npm run load:broker`: autocannon against the credential broker and against a bare Fastify server
 * that returns constant JSON on the same route, in the same run, on the same machine. Reports requests
 * per second and p99 for both, the ratio (target ≥ 70 %), and the upstream token requests the emulator
 * counted after the first (target 0). Writes bench/results/broker-latest.md.
 *
 * Each server runs in a child process of its own (this script, with `child <kind>`), so autocannon and
 * the emulator do not share its event loop. The broker runs as configured in production: API-key
 * authentication, the failed-authentication throttle, allow-lists, the audit log (on by default: one
 * JSON line per token request, to /dev/null through pino's asynchronous destination), x-request-id,
 * request and per-consumer counting (with the latency histogram) for /metrics.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(import.meta.url);
const DURATION_S = Number(process.env.LOAD_DURATION_S ?? 10);
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS ?? 50);
const ROUNDS = 5;
const KEY = 'tbk_load_test_consumer_key_5f1e2d3c4b5a69788796a5b4';
const TOKEN = 'f'.repeat(56);

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Autocannon = (options: { url: string; connections: number; duration: number; headers?: Record<string, string> }) => Promise<AutocannonResult>;

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
    const { createBroker, keyDigest } = await import('../src/apps/broker/index.js');
    const { default: pino } = await import('pino');
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
      // The audit log goes where the log goes (no audit.file): /dev/null, through the same asynchronous
      // destination the broker makes for stdout or audit.file (4 KiB buffer, flushed every second).
      { env: process.env, logDestination: pino.destination({ dest: '/dev/null', sync: false, minLength: 4096 }) },
    );
    url = await broker.listen();
    close = () => broker.close();
  }
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

async function startChild(kind: 'broker' | 'bare', env: Record<string, string>): Promise<{ url: string; process: ChildProcess }> {
  const proc = fork(SCRIPT, ['child', kind], {
    execArgv: [
      '--import',
      'tsx',
      ...(process.env.LOAD_PROFILE_DIR === undefined
        ? []
        : ['--cpu-prof', `--cpu-prof-dir=${process.env.LOAD_PROFILE_DIR}`, `--cpu-prof-name=${kind}.cpuprofile`]),
    ],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
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
function cpuOf(proc: ChildProcess): Promise<number> {
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

async function stopChild(proc: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.send('stop');
  await exited;
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

async function main(): Promise<void> {
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  const { startEmulator, SAMPLE_CLIENTS } = await import('../src/apps/emulator/index.js');
  const emulator = await startEmulator({ ban: false });
  const [apClient] = SAMPLE_CLIENTS;

  const env = { EMULATOR_AP_BASE_URL: emulator.alternativePaymentsBaseUrl, AP_SECRET: apClient.clientSecret };
  const servers = { bare: await startChild('bare', env), broker: await startChild('broker', env) };
  const headers = { authorization: `Bearer ${KEY}` };
  const urlOf = (kind: 'bare' | 'broker') => `${servers[kind].url}/v1/tokens/ap`;
  let upstreamAfterFirst: number;
  const results: Record<'bare' | 'broker', AutocannonResult[]> = { bare: [], broker: [] };
  const cpu = { bare: { micros: 0, requests: 0 }, broker: { micros: 0, requests: 0 } };
  try {
    for (const kind of ['bare', 'broker'] as const) {
      const first = await fetch(urlOf(kind), { headers });
      if (first.status !== 200) throw new Error(`${kind}: first request answered ${first.status}`);
      await first.arrayBuffer();
    }
    const afterFirst = emulator.stats().providers['alternative-payments'].tokenRequests;
    console.log(`warming up both (2 s each), then ${ROUNDS} alternating rounds of ${DURATION_S / ROUNDS} s per target, ${CONNECTIONS} connections…`);
    for (const kind of ['bare', 'broker'] as const) await autocannon({ url: urlOf(kind), connections: CONNECTIONS, duration: 2, headers });
    // Alternating short rounds: both targets see the same background load on a shared machine.
    for (let round = 0; round < ROUNDS; round++) {
      for (const kind of round % 2 === 0 ? (['bare', 'broker'] as const) : (['broker', 'bare'] as const)) {
        const cpuBefore = await cpuOf(servers[kind].process);
        const result = await autocannon({ url: urlOf(kind), connections: CONNECTIONS, duration: DURATION_S / ROUNDS, headers });
        cpu[kind].micros += (await cpuOf(servers[kind].process)) - cpuBefore;
        cpu[kind].requests += result.requests.total;
        results[kind].push(result);
        console.log(`  round ${round + 1} ${kind.padEnd(6)} ${Math.round(result.requests.average)} req/s, p99 ${result.latency.p99} ms`);
      }
    }
    upstreamAfterFirst = emulator.stats().providers['alternative-payments'].tokenRequests - afterFirst;
  } finally {
    await stopChild(servers.bare.process);
    await stopChild(servers.broker.process);
  }
  const bare = { result: combine(results.bare) };
  const broker = { result: combine(results.broker), upstreamAfterFirst };
  const ratios = results.broker.map((r, i) => r.requests.average / results.bare[i]!.requests.average).sort((a, b) => a - b);
  const medianRatio = ratios[Math.floor(ratios.length / 2)]!;
  // CPU time per answered request: what each server costs, independent of how much CPU the machine gave it.
  const cpuPerRequest = { bare: cpu.bare.micros / cpu.bare.requests, broker: cpu.broker.micros / cpu.broker.requests };
  const cpuRatio = cpuPerRequest.bare / cpuPerRequest.broker;
  await emulator.close();

  const ratio = broker.result.requests.average / bare.result.requests.average;
  const upstreamTotal = emulator.stats().providers['alternative-payments'].tokenRequests;
  const pass = ratio >= 0.7 && broker.upstreamAfterFirst === 0 && broker.result.non2xx === 0 && broker.result.errors === 0;
  const row = (name: string, r: AutocannonResult) =>
    `| ${name} | ${Math.round(r.requests.average).toLocaleString('en-US')} | ${r.latency.p50} | ${r.latency.p99} | ${r.requests.total.toLocaleString('en-US')} | ${r.non2xx} | ${r.errors + r.timeouts} |`;
  const report = [
    '# Broker load test',
    '',
    `Run by \`npm run load:broker\` on ${new Date().toISOString()}: Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}.`,
    `autocannon 9, ${CONNECTIONS} connections, \`GET /v1/tokens/ap\`, ${DURATION_S} s per target in ${ROUNDS} alternating rounds after a 2 s warm-up each`,
    '(alternating, so both targets share whatever else the machine is doing). Each server runs in its own child process,',
    "autocannon and the emulator in the parent. requests/s is the mean over the rounds; p50/p99 are the worst round's.",
    '',
    '| target | requests/s | p50 (ms) | p99 (ms) | requests | non-2xx | errors |',
    '|---|---:|---:|---:|---:|---:|---:|',
    row('bare Fastify, constant JSON', bare.result),
    row('tokenbroker broker', broker.result),
    '',
    `**Broker / bare: ${(ratio * 100).toFixed(1)} %** (target ≥ 70 %). Per round, sorted: ${ratios.map((r) => `${(r * 100).toFixed(0)} %`).join(', ')} (median ${(medianRatio * 100).toFixed(1)} %).`,
    '',
    `CPU time per request (user + system, the server process only): bare ${cpuPerRequest.bare.toFixed(1)} µs, broker ${cpuPerRequest.broker.toFixed(1)} µs — the broker's throughput ceiling is **${(cpuRatio * 100).toFixed(1)} %** of bare Fastify's when both are CPU-bound. This figure does not depend on how much CPU the machine gave each server, which requests/s on a shared machine does.`,
    '',
    `Upstream token requests counted by the emulator after the first: **${broker.upstreamAfterFirst}** (target 0); ${upstreamTotal} in the whole run.`,
    '',
    'The broker did everything it does in production on each request: API-key check (SHA-256, then a constant-time',
    'comparison against each of 21 consumers), allow-list, cached token from the memory store, response schema',
    'serialisation, `Cache-Control: no-store`, `x-request-id`, request and per-consumer counting (latency histogram',
    "included) for /metrics and one JSON **audit line** per request (pino's asynchronous sonic-boom destination, to",
    '/dev/null). The bare server answers the same route with a constant object and no logger.',
    '',
    `Result: ${pass ? 'PASS' : 'FAIL'}.`,
    '',
  ].join('\n');
  mkdirSync(new URL('results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('results/broker-latest.md', import.meta.url), report);
  console.log(
    `\nbroker/bare ${(ratio * 100).toFixed(1)} % (median round ${(medianRatio * 100).toFixed(1)} %), CPU per request bare ${cpuPerRequest.bare.toFixed(1)} µs / broker ${cpuPerRequest.broker.toFixed(1)} µs = ${(cpuRatio * 100).toFixed(1)} %, upstream after first ${broker.upstreamAfterFirst} → ${pass ? 'PASS' : 'FAIL'}`,
  );
  console.log('written to bench/results/broker-latest.md');
  process.exitCode = pass ? 0 : 1;
}
