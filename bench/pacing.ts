/**
 * 8. Pacing overhead (issue 20): what a call with a free slot costs through `tokens.fetch(id)`, pacing on
 * against off, side by side in one run, on each store. The transport is an in-process fetch (an
 * `oauth2()` provider's `fetch` option) answering at once, so the figures are tokenbroker's own work —
 * not loopback HTTP, whose noise (tens of µs) would hide a sub-µs difference. "On" is a limit that is
 * never reached (10⁶ calls per 10 ms), so every call finds a free slot: the warm path the target is about.
 * Rounds alternate on/off; the memory figures are medians of per-round medians and the added time the
 * median of per-round differences. The shared stores' figures are each call's p50/p99 (one round trip
 * to reserve; the confirm after the answer is sent without being waited for).
 *
 * Run alone: `npx tsx bench/pacing.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import { createTokenManager, oauth2, type TokenStore } from '../src/index.js';
import { sqliteStore } from '../src/stores/sqlite/index.js';
import { redisStore } from '../src/stores/redis/index.js';

/** One store's figures, ns per call. */
export interface PacingRow {
  readonly store: string;
  readonly offP50Ns: number;
  readonly offP99Ns: number;
  readonly onP50Ns: number;
  readonly onP99Ns: number;
  /** Median of per-round differences of the medians (memory), else on p50 − off p50. */
  readonly addedNs: number;
}

const ORIGIN = 'http://127.0.0.1:9';
const TOKEN = JSON.stringify({ access_token: 'bench-token', token_type: 'Bearer', expires_in: 86_400 });
const API_BODY = '{}';

/** Answers the token request and every API call at once, in this process. */
async function inProcessFetch(input: string | URL | Request): Promise<Response> {
  const url = input instanceof Request ? input.url : String(input);
  return new Response(url.endsWith('/token') ? TOKEN : API_BODY, { status: 200, headers: { 'content-type': 'application/json' } });
}

function provider(rateLimit: { requests: number; perMs: number } | false, name: string) {
  return oauth2({
    tokenUrl: `${ORIGIN}/token`,
    clientId: `bench-${name}`,
    clientSecret: 'bench-secret',
    apiBaseUrl: `${ORIGIN}/api/`,
    fetch: inProcessFetch,
    rateLimit,
  });
}

async function measure(storeName: string, store: TokenStore | undefined, rounds: number, time: number): Promise<PacingRow> {
  const tokens = createTokenManager({
    providers: { on: provider({ requests: 1_000_000, perMs: 10 }, 'on'), off: provider(false, 'off') },
    ...(store === undefined ? {} : { store }),
  });
  await tokens.getToken('on');
  await tokens.getToken('off');
  const fetches = { on: tokens.fetch('on'), off: tokens.fetch('off') };
  const url = `${ORIGIN}/api/customers`;
  const tasks = {
    on: async () => {
      await fetches.on(url);
    },
    off: async () => {
      await fetches.off(url);
    },
  };
  const p50: Record<'on' | 'off', number[]> = { on: [], off: [] };
  const p99: Record<'on' | 'off', number[]> = { on: [], off: [] };
  for (let round = 0; round < rounds; round++) {
    for (const name of round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
      const bench = new Bench({ time, warmupTime: 50 });
      bench.add(name, tasks[name]);
      const [task] = await bench.run();
      const result = task?.result;
      if (result === undefined || !('latency' in result)) throw new Error(`pacing ${storeName} ${name}: ${JSON.stringify(result)}`);
      p50[name].push(result.latency.p50 * 1e6);
      p99[name].push(result.latency.p99! * 1e6);
    }
  }
  await tokens.close();
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  return {
    store: storeName,
    offP50Ns: median(p50.off),
    offP99Ns: median(p99.off),
    onP50Ns: median(p50.on),
    onP99Ns: median(p99.on),
    addedNs: median(p50.on.map((ns, round) => ns - p50.off[round]!)),
  };
}

/** Memory, SQLite and (when `redisUrl` is given) Redis. */
export async function measurePacing(redisUrl?: string): Promise<PacingRow[]> {
  const rows = [await measure('memory', undefined, 9, 300)];
  const dir = mkdtempSync(join(tmpdir(), 'tokenbroker-pacing-bench-'));
  try {
    rows.push(await measure('sqlite', sqliteStore({ path: join(dir, 'tokens.sqlite') }), 3, 500));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (redisUrl !== undefined) rows.push(await measure('redis', redisStore({ url: redisUrl }), 3, 500));
  return rows;
}

const us = (ns: number) => (ns / 1000).toFixed(ns < 10_000 ? 2 : 1);

/** The rows as a Markdown table. */
export function pacingMarkdown(rows: readonly PacingRow[]): string {
  const lines = [
    '| store | pacing off p50 / p99 (µs) | pacing on p50 / p99 (µs) | added per call (µs, p50) |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.store} | ${us(r.offP50Ns)} / ${us(r.offP99Ns)} | ${us(r.onP50Ns)} / ${us(r.onP99Ns)} | ${us(r.addedNs)} |`),
  ];
  return `${lines.join('\n')}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let redis: { url: string; close(): Promise<void> } | undefined;
  try {
    const { redisServerBinary, startRedisServer } = await import('../test/redis/redis-server.js');
    if (redisServerBinary !== undefined) redis = await startRedisServer();
  } catch (error) {
    console.warn(`redis-server not started: ${String(error)}`);
  }
  try {
    process.stdout.write(pacingMarkdown(await measurePacing(redis?.url)));
  } finally {
    await redis?.close();
  }
}
