/**
 * `npm run load:proxy`: autocannon against the broker's proxy and against a bare reverse proxy on the
 * same library (Fastify + @fastify/reply-from, the same undici settings), both forwarding
 * `GET …/customers` to the same loopback upstream, in alternating rounds of one run. Reports requests
 * per second, p50/p99, the ratio (target ≥ 85 %), the p50 the proxy adds, and CPU time per request.
 * Writes bench/results/proxy-latest.md.
 *
 * Each server (upstream, bare proxy, broker) runs in a child process of its own (this script, with
 * `child <kind>`); autocannon and the emulator (the token endpoint: one token for the whole run) run in
 * the parent. The broker runs as in production — the built package (`dist/`, which `npm run load:proxy`
 * builds first), as `tokenbroker serve` runs it: API-key authentication, allow-list, allow rules, the
 * token from the memory store, header filtering, x-request-id, metrics, and one JSON audit line per
 * call, to its stdout (/dev/null here) through its own asynchronous destination.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { cpuOf, loadAutocannon, median, serveParent, startChild as startServer, stopChild, type AutocannonResult } from './load-children.js';

type Kind = 'upstream' | 'bare' | 'broker';
const SCRIPT = fileURLToPath(import.meta.url);
// The broker's stdout (its log and audit lines, as `tokenbroker serve` writes them) goes to /dev/null.
const startChild = (kind: Kind, env: Record<string, string>) =>
  startServer(SCRIPT, kind, env, { stdout: kind === 'broker' ? 'ignore' : 'inherit', profile: kind !== 'upstream' });
const DURATION_S = Number(process.env.LOAD_DURATION_S ?? 45);
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS ?? 50);
// Short rounds, many of them: this machine's speed drifts over seconds (a fixed CPU loop took 545–995 ms
// from one run to the next), and a bare round next to a broker round sees the same drift.
const ROUNDS = Number(process.env.LOAD_ROUNDS ?? 30);
const KEY = 'tbk_proxy_load_consumer_key_3e2d1c0b9a8f7e6d5c4b';
/** The bare proxy's own emulator client: an id as long as the broker's (the sample client's), so both tokens are the same size. */
const BARE_CLIENT = { provider: 'autopay', clientId: 'autopay-bareprxclient', clientSecret: 'bare-proxy-load-secret-5c1e' } as const;
/** A page of customers as the upstream answers it (about 600 bytes). */
const PAGE = JSON.stringify({
  data: Array.from({ length: 5 }, (_, i) => ({ id: `cus_${i}`, email: `customer${i}@example.com`, created_at: '2026-01-01T00:00:00Z' })),
  end_cursor: 'cus_4',
  start_cursor: 'cus_0',
  has_next_page: true,
  has_previous_page: false,
});

if (process.argv[2] === 'child') await child(process.argv[3] as Kind);
else await main();

// ---------------------------------------------------------------------------------------------------
// The servers

async function child(kind: Kind): Promise<void> {
  let url: string;
  let close: () => Promise<void>;
  if (kind === 'upstream') {
    const server = createServer((request, response) => {
      // Like the real API: no token, no answer.
      if (request.headers.authorization === undefined) {
        response.writeHead(401).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(PAGE) }).end(PAGE);
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => new Promise((resolve) => server.close(() => resolve()));
  } else if (kind === 'bare') {
    const { default: Fastify } = await import('fastify');
    const { default: replyFrom } = await import('@fastify/reply-from');
    const upstream = process.env.UPSTREAM_URL!;
    // A real token of the same issuer and size as the broker's (an Autopay JWT, 431 bytes from the emulator),
    // got once with a client of its own: every reverse proxy to this API sends one. (The made-up 11-byte token
    // it had before made each call 420 bytes lighter than the broker's, worth several % of the ratio.)
    const authorization = `Bearer ${await bareToken()}`;
    const app = Fastify();
    // The library as the broker sets it up, with a fixed Authorization: the same work minus the broker's.
    await app.register(replyFrom, {
      disableRequestLogging: true,
      undici: { connections: 128, pipelining: 1, connect: { timeout: 5_000, rejectUnauthorized: true }, headersTimeout: 30_000, bodyTimeout: 30_000 },
    });
    app.get('/v1/proxy/ap/*', (request, reply) => {
      const path = request.url.slice('/v1/proxy/ap'.length);
      return reply.from(`${upstream}/api${path}`, {
        rewriteRequestHeaders: (_request, headers) => ({ ...headers, authorization }),
      });
    });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
    close = () => app.close();
  } else {
    const { createBroker, keyDigest } = await import('../dist/apps/broker/index.js');
    const consumers = Array.from({ length: 20 }, (_, i) => ({ name: `service-${i}`, keySha256: keyDigest(`${KEY}-${i}`), providers: ['ap'] }));
    consumers.push({
      name: 'load',
      keySha256: keyDigest(KEY),
      providers: ['ap'],
      allow: [{ provider: 'ap', methods: ['GET'], paths: ['/customers'] }],
    } as never);
    const broker = createBroker(
      {
        listen: { host: '127.0.0.1', port: 0 },
        ops: { host: '127.0.0.1', port: 0 },
        store: { type: 'memory' },
        providers: {
          ap: {
            type: 'autopay',
            clientId: process.env.TOKEN_CLIENT_ID!,
            clientSecretEnv: 'TOKEN_SECRET',
            tokenUrl: process.env.TOKEN_URL!,
            apiBaseUrl: `${process.env.UPSTREAM_URL!}/api`,
          },
        },
        consumers,
      },
      // No destination given: the log and the audit lines go to stdout, as with `tokenbroker serve`.
      { env: process.env },
    );
    url = await broker.listen();
    close = () => broker.close();
  }
  serveParent(url, close);
}

/** The bare proxy's token: one client-credentials request to the emulator, with the bare proxy's own client. */
async function bareToken(): Promise<string> {
  const response = await fetch(process.env.TOKEN_URL!, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      grant_type: 'client_credentials',
      client_id: BARE_CLIENT.clientId,
      client_secret: BARE_CLIENT.clientSecret,
      audience: 'https://api.autopay.io',
    }),
  });
  if (response.status !== 200) throw new Error(`bare proxy: the token request answered ${response.status}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

// ---------------------------------------------------------------------------------------------------
// The measurement

async function main(): Promise<void> {
  const autocannon = loadAutocannon();
  const { startEmulator, SAMPLE_CLIENTS } = await import('../src/apps/emulator/index.js');
  const autopayClient = SAMPLE_CLIENTS[1];
  const emulator = await startEmulator({ ban: false, clients: [autopayClient, BARE_CLIENT] });
  const upstream = await startChild('upstream', {});
  const env = {
    UPSTREAM_URL: upstream.url,
    TOKEN_URL: emulator.autopayTokenUrl,
    TOKEN_CLIENT_ID: autopayClient.clientId,
    TOKEN_SECRET: autopayClient.clientSecret,
  };
  const servers = { bare: await startChild('bare', env), broker: await startChild('broker', env) };
  const headers = { 'x-api-key': KEY };
  const urlOf = (kind: 'bare' | 'broker') => `${servers[kind].url}/v1/proxy/ap/customers?limit=5`;
  const results: Record<'bare' | 'broker', AutocannonResult[]> = { bare: [], broker: [] };
  const cpu = { bare: { micros: 0, requests: 0 }, broker: { micros: 0, requests: 0 } };
  const loadBefore = loadavg();
  try {
    for (const kind of ['bare', 'broker'] as const) {
      const first = await fetch(urlOf(kind), { headers });
      if (first.status !== 200) throw new Error(`${kind}: first request answered ${first.status}`);
      await first.arrayBuffer();
    }
    console.log(
      `warming up both (2 s each), then ${ROUNDS} alternating rounds of ${(DURATION_S / ROUNDS).toFixed(1)} s per target, ${CONNECTIONS} connections…`,
    );
    for (const kind of ['bare', 'broker'] as const) await autocannon({ url: urlOf(kind), connections: CONNECTIONS, duration: 2, headers });
    for (let round = 0; round < ROUNDS; round++) {
      for (const kind of round % 2 === 0 ? (['bare', 'broker'] as const) : (['broker', 'bare'] as const)) {
        const cpuBefore = await cpuOf(servers[kind].process);
        const result = await autocannon({ url: urlOf(kind), connections: CONNECTIONS, duration: DURATION_S / ROUNDS, headers });
        cpu[kind].micros += (await cpuOf(servers[kind].process)) - cpuBefore;
        cpu[kind].requests += result.requests.total;
        results[kind].push(result);
        console.log(
          `  round ${round + 1} ${kind.padEnd(6)} ${Math.round(result.requests.average)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`,
        );
      }
    }
  } finally {
    await stopChild(servers.bare.process);
    await stopChild(servers.broker.process);
    await stopChild(upstream.process);
  }
  // The broker's client only (the bare proxy took one token with its own).
  const tokenRequests = emulator.stats().providers.autopay.clients[autopayClient.clientId]?.tokenRequests ?? 0;
  await emulator.close();

  const mean = (kind: 'bare' | 'broker', f: (r: AutocannonResult) => number) => results[kind].reduce((t, r) => t + f(r), 0) / results[kind].length;
  const ratios = results.broker.map((r, i) => r.requests.average / results.bare[i]!.requests.average);
  const ratio = mean('broker', (r) => r.requests.average) / mean('bare', (r) => r.requests.average);
  const addedP50 = results.broker.map((r, i) => r.latency.p50 - results.bare[i]!.latency.p50);
  const cpuPerRequest = { bare: cpu.bare.micros / cpu.bare.requests, broker: cpu.broker.micros / cpu.broker.requests };
  const failures = (kind: 'bare' | 'broker') => results[kind].reduce((t, r) => t + r.non2xx + r.errors + r.timeouts, 0);
  const pass = ratio >= 0.85 && failures('broker') === 0 && tokenRequests === 1;
  const row = (name: string, kind: 'bare' | 'broker') =>
    `| ${name} | ${Math.round(mean(kind, (r) => r.requests.average)).toLocaleString('en-US')} | ${median(results[kind].map((r) => r.latency.p50))} | ${median(results[kind].map((r) => r.latency.p99))} | ${results[kind].reduce((t, r) => t + r.requests.total, 0).toLocaleString('en-US')} | ${failures(kind)} | ${cpuPerRequest[kind].toFixed(1)} |`;
  const report = [
    '# Proxy load test',
    '',
    `Run by \`npm run load:proxy\` on ${new Date().toISOString()}: Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}.`,
    `autocannon 9, ${CONNECTIONS} connections, \`GET /v1/proxy/ap/customers?limit=5\`, ${DURATION_S} s per target in ${ROUNDS} alternating rounds after a 2 s warm-up each.`,
    'The upstream, the bare proxy and the broker each run in a child process; autocannon and the emulator (token endpoint) in the parent.',
    'requests/s is the mean over the rounds; p50 and p99 the median round’s.',
    '',
    '| target | requests/s | p50 (ms) | p99 (ms) | requests | non-2xx + errors | CPU µs/request |',
    '|---|---:|---:|---:|---:|---:|---:|',
    row('bare reverse proxy (Fastify + @fastify/reply-from)', 'bare'),
    row('tokenbroker proxy (audit log on)', 'broker'),
    '',
    `**Proxy / bare: ${(ratio * 100).toFixed(1)} %** (target ≥ 85 %). Per round: ${ratios.map((r) => `${(r * 100).toFixed(0)} %`).join(', ')} (median ${(median(ratios) * 100).toFixed(1)} %).`,
    '',
    `Added p50 latency per round (proxy − bare, ms): ${addedP50.map((ms) => ms.toFixed(2)).join(', ')} (median **${median(addedP50).toFixed(2)} ms**).`,
    '',
    `CPU time per request (user + system, the server process only): bare ${cpuPerRequest.bare.toFixed(1)} µs, proxy ${cpuPerRequest.broker.toFixed(1)} µs — the proxy's ceiling is ${((cpuPerRequest.bare / cpuPerRequest.broker) * 100).toFixed(1)} % of the bare proxy's when both are CPU-bound (independent of how the machine shared its CPU).`,
    '',
    `Token requests the emulator counted: ${tokenRequests} (target 1).`,
    '',
    'Per call the broker did what it does in production: API-key check against 21 consumers, provider allow-list, an allow rule',
    '(method and path prefix), the path checks, the token from the memory store, the header filters both ways, x-request-id,',
    'metrics (counts and the upstream latency histogram) and one JSON audit line (to /dev/null, asynchronous). The bare proxy',
    'forwards the same route with a fixed Authorization header (a real token of the same size, got once) and nothing else.',
    '',
    `Result: ${pass ? 'PASS' : 'FAIL'}.`,
    '',
  ].join('\n');
  mkdirSync(new URL('results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('results/proxy-latest.md', import.meta.url), report);
  console.log(
    `\nproxy/bare ${(ratio * 100).toFixed(1)} % (median round ${(median(ratios) * 100).toFixed(1)} %), added p50 ${median(addedP50).toFixed(2)} ms, CPU/request bare ${cpuPerRequest.bare.toFixed(1)} µs / proxy ${cpuPerRequest.broker.toFixed(1)} µs → ${pass ? 'PASS' : 'FAIL'}`,
  );
  console.log('written to bench/results/proxy-latest.md');
  process.exitCode = pass ? 0 : 1;
}
