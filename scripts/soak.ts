/**
 * Soak: mixed load on both providers through one token manager, against a flapping emulator (30 %
 * token errors, periodic 429 storms with Retry-After, 20-30 s tokens so refreshes never stop), with
 * many concurrent callers making API calls through `tokens.client()`, plus periodic runaway loops
 * (forceRefresh and invalidate storms) that the issuance guard has to absorb.
 *
 * Prints token requests against the guard's allowance, errors seen by callers by type, getToken
 * latency (max, p99), heap at start and end after GC, and a verdict. Exits non-zero on failure.
 *
 *   npm run soak                      # 2 minutes
 *   npm run soak -- --duration 20     # or SOAK_SECONDS=20 npm run soak
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HTTPError } from 'ky';
import { alternativePayments, autopay, createTokenManager, type Logger } from '../src/index.js';
import { startEmulator, type EmulatorClient } from '../src/apps/emulator/index.js';

// ---------------------------------------------------------------------------------------------------
// Settings

function durationSeconds(): number {
  const args = process.argv.slice(2);
  let raw: string | undefined = process.env.SOAK_SECONDS;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--duration') raw = args[i + 1];
    else if (arg.startsWith('--duration=')) raw = arg.slice('--duration='.length);
  }
  const seconds = raw === undefined ? 120 : Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    console.error(`soak: --duration must be a positive number of seconds, not ${String(raw)}`);
    process.exit(2);
  }
  return seconds;
}

const DURATION_S = durationSeconds();
const CALLERS = 200;
const ERROR_RATE = 0.3;
const LIFETIME_S = { alternativePayments: 20, autopay: 30 };
const STORM_EVERY_MS = 20_000; // a 429 storm
const RUNAWAY_EVERY_MS = 15_000; // a forceRefresh or invalidate loop on one credential
const GUARD_MAX_TOKENS = 6; // the default budget per token lifetime
const HEAP_GROWTH_LIMIT_MB = 10;

// ---------------------------------------------------------------------------------------------------

/** Log-scale latency histogram: bounded memory whatever the run length. */
class Histogram {
  readonly #buckets = new Float64Array(600);
  count = 0;
  max = 0;
  record(ms: number): void {
    const us = Math.max(0, ms * 1000);
    this.#buckets[Math.min(599, Math.floor(Math.log2(us + 1) * 20))]! += 1;
    this.count += 1;
    if (ms > this.max) this.max = ms;
  }
  /** Upper bound of the bucket holding the q-quantile, ms. */
  quantile(q: number): number {
    let seen = 0;
    const target = q * this.count;
    for (let i = 0; i < this.#buckets.length; i++) {
      seen += this.#buckets[i]!;
      if (seen >= target) return (2 ** ((i + 1) / 20) - 1) / 1000;
    }
    return this.max;
  }
}

function heapMb(collect: () => void): number {
  for (let i = 0; i < 3; i++) collect();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(collect: () => void): Promise<void> {
  const clients: EmulatorClient[] = [
    { provider: 'alternative-payments', clientId: 'soak-ap-1', clientSecret: 'soak-ap-secret-1+/=' },
    { provider: 'alternative-payments', clientId: 'soak-ap-2', clientSecret: 'soak-ap-secret-2%:' },
    { provider: 'autopay', clientId: 'soak-autopay-1', clientSecret: 'soak-autopay-secret-1' },
    { provider: 'autopay', clientId: 'soak-autopay-2', clientSecret: 'soak-autopay-secret-2' },
  ];
  // The ban is set to the guard's allowance over the shortest lifetime: any excess gets a client banned.
  const emulator = await startEmulator({
    clients,
    errorRate: ERROR_RATE,
    tokenLifetimeSeconds: LIFETIME_S,
    ban: { maxTokens: GUARD_MAX_TOKENS, windowSeconds: Math.min(LIFETIME_S.alternativePayments, LIFETIME_S.autopay) },
  });

  const issued = new Map<string, number[]>(); // provider id → issue times (from the manager's log)
  const logger: Logger = {
    debug: () => {},
    info: (object, message) => {
      if (message === 'new token issued' && typeof object.provider === 'string') {
        const list = issued.get(object.provider) ?? [];
        list.push(Date.now());
        issued.set(object.provider, list);
      }
    },
    warn: () => {},
    error: () => {},
  };
  const providers = {
    ap1: alternativePayments({ clientId: 'soak-ap-1', clientSecret: clients[0]!.clientSecret, baseUrl: emulator.alternativePaymentsBaseUrl }),
    ap2: alternativePayments({ clientId: 'soak-ap-2', clientSecret: clients[1]!.clientSecret, baseUrl: emulator.alternativePaymentsBaseUrl }),
    autopay1: autopay({
      clientId: 'soak-autopay-1',
      clientSecret: clients[2]!.clientSecret,
      tokenUrl: emulator.autopayTokenUrl,
      apiBaseUrl: emulator.autopayApiBaseUrl,
    }),
    autopay2: autopay({
      clientId: 'soak-autopay-2',
      clientSecret: clients[3]!.clientSecret,
      tokenUrl: emulator.autopayTokenUrl,
      apiBaseUrl: emulator.autopayApiBaseUrl,
    }),
  };
  const ids = Object.keys(providers) as Array<keyof typeof providers>;
  const tokens = createTokenManager({ providers, logger });
  const api = Object.fromEntries(ids.map((id) => [id, tokens.client(id)])) as Record<keyof typeof providers, ReturnType<typeof tokens.client>>;

  const latency = new Histogram();
  const callerErrors = new Map<string, number>();
  const apiStatuses = new Map<number, number>();
  let expiredServed = 0;
  let apiCalls = 0;
  let getTokenCalls = 0;
  const countError = (error: unknown) => {
    const name = error instanceof HTTPError ? `HTTPError ${error.response.status}` : error instanceof Error ? error.name : typeof error;
    callerErrors.set(name, (callerErrors.get(name) ?? 0) + 1);
  };

  const timed = async (id: keyof typeof providers, options?: { forceRefresh?: boolean }) => {
    const started = performance.now();
    getTokenCalls += 1;
    try {
      const token = await tokens.getToken(id, options);
      latency.record(performance.now() - started);
      if (Date.now() >= token.expiresAt) expiredServed += 1;
    } catch (error) {
      latency.record(performance.now() - started);
      countError(error);
    }
  };

  const callApi = async (id: keyof typeof providers) => {
    apiCalls += 1;
    try {
      const response = id.startsWith('ap')
        ? await api[id].get('customers', { searchParams: { limit: 5 }, retry: 0 })
        : await api[id].post('customer_club/v2/join', { json: { phone_number: `+47${10_000_000 + (apiCalls % 1000)}` }, retry: 0 });
      apiStatuses.set(response.status, (apiStatuses.get(response.status) ?? 0) + 1);
      await response.arrayBuffer();
    } catch (error) {
      if (error instanceof HTTPError) apiStatuses.set(error.response.status, (apiStatuses.get(error.response.status) ?? 0) + 1);
      countError(error);
    }
  };

  const caller = async (n: number, until: number) => {
    while (Date.now() < until) {
      const id = ids[(n + Math.floor(Math.random() * ids.length)) % ids.length]!;
      if (Math.random() < 0.5) await timed(id);
      else await callApi(id);
      await sleep(Math.floor(Math.random() * 20));
    }
  };

  // Warm up under the same load for a few seconds (module loading, JIT, connection pools), then the start heap.
  const warmUntil = Date.now() + Math.min(5, DURATION_S / 4) * 1000;
  await Promise.all(Array.from({ length: CALLERS }, (_, n) => caller(n, warmUntil)));
  const heapStart = heapMb(collect);
  const startedAt = Date.now();
  const endAt = startedAt + DURATION_S * 1000;
  console.log(
    `soak: ${DURATION_S} s, ${CALLERS} callers, ${ids.length} credentials (2 Alternative Payments, 2 Autopay), ` +
      `error rate ${ERROR_RATE * 100} %, 429 storms every ${STORM_EVERY_MS / 1000} s, token lifetimes ` +
      `${LIFETIME_S.alternativePayments} s / ${LIFETIME_S.autopay} s; heap at start ${heapStart.toFixed(1)} MB`,
  );

  let storms = 0;
  let runaways = 0;
  const chaos = async () => {
    let nextStorm = startedAt + STORM_EVERY_MS;
    let nextRunaway = startedAt + RUNAWAY_EVERY_MS / 2;
    let nextReport = startedAt + 30_000;
    while (Date.now() < endAt) {
      const now = Date.now();
      if (now >= nextStorm) {
        storms += 1;
        emulator.configure({ force429: { count: 25, retryAfterSeconds: 1 } });
        nextStorm += STORM_EVERY_MS;
      }
      if (now >= nextRunaway) {
        runaways += 1;
        const id = ids[runaways % ids.length]!;
        // A runaway caller: the guard must absorb it (refusing, or serving the current token).
        if (runaways % 2 === 0) {
          await Promise.all(Array.from({ length: 20 }, () => timed(id, { forceRefresh: true })));
        } else {
          for (let i = 0; i < 10; i++) {
            tokens.invalidate(id);
            await timed(id);
          }
        }
        nextRunaway += RUNAWAY_EVERY_MS;
      }
      if (Date.now() >= nextReport) {
        const elapsed = Math.round((Date.now() - startedAt) / 1000);
        console.log(`  … ${elapsed} s: ${getTokenCalls} getToken, ${apiCalls} API calls, ${tokens.stats().tokensIssued.total} tokens issued`);
        nextReport += 30_000;
      }
      await sleep(100);
    }
  };

  await Promise.all([...Array.from({ length: CALLERS }, (_, n) => caller(n, endAt)), chaos()]);
  const elapsedS = (Date.now() - startedAt) / 1000;

  // ---------------------------------------------------------------------------------------------------
  // Report

  const heapEnd = heapMb(collect);
  const stats = tokens.stats();
  const emulated = emulator.stats();
  const banned = emulated.bannedClients;

  console.log(`\n== Token requests against the budget (guard: ${GUARD_MAX_TOKENS} new tokens per token lifetime, per credential)`);
  let budgetExceeded = false;
  const lifetimeOf = (id: string) => 1000 * (id.startsWith('ap') ? LIFETIME_S.alternativePayments : LIFETIME_S.autopay);
  for (const id of ids) {
    const times = issued.get(id) ?? [];
    const window = lifetimeOf(id);
    let worst = 0;
    for (let i = 0; i < times.length; i++) {
      let inWindow = 0;
      for (let j = i; j < times.length && times[j]! < times[i]! + window; j++) inWindow += 1;
      worst = Math.max(worst, inWindow);
    }
    if (worst > GUARD_MAX_TOKENS) budgetExceeded = true;
    const allowance = GUARD_MAX_TOKENS * Math.ceil((elapsedS * 1000) / window);
    const p = stats.byProvider[id]!;
    console.log(
      `  ${id.padEnd(9)} tokens ${String(p.tokensIssued.total).padStart(4)} (allowance over the run ${allowance}; ` +
        `minimum ≈ ${Math.ceil((elapsedS * 1000) / (window / 2))}), most in any ${window / 1000} s window ${worst}/${GUARD_MAX_TOKENS}; ` +
        `requests sent ${p.requestsSent}, guard refusals ${p.guardRefusals}, by reason ${JSON.stringify(p.tokensIssued)}`,
    );
  }
  for (const name of ['alternative-payments', 'autopay'] as const) {
    const e = emulated.providers[name];
    console.log(
      `  emulator ${name}: ${e.tokenRequests} token requests, ${e.tokensIssued} tokens issued, rejected ${JSON.stringify(e.tokenRequestsRejected)}, API ${JSON.stringify(e.apiCalls)}`,
    );
  }

  console.log('\n== What callers saw');
  console.log(`  getToken calls ${getTokenCalls}, API calls ${apiCalls}, API statuses ${JSON.stringify(Object.fromEntries([...apiStatuses].sort()))}`);
  console.log(`  errors by type ${JSON.stringify(Object.fromEntries([...callerErrors].sort()))}`);
  console.log(`  getToken latency: p50 ${latency.quantile(0.5).toFixed(3)} ms, p99 ${latency.quantile(0.99).toFixed(3)} ms, max ${latency.max.toFixed(1)} ms`);
  console.log(`  expired tokens served: ${expiredServed}`);
  console.log(
    `  manager: hits ${stats.hits}, misses ${stats.misses}, deduplicated ${stats.deduplicated}, requests sent ${stats.requestsSent}, ` +
      `failures ${stats.failures}, cooled down ${stats.cooledDown}, guard refusals ${stats.guardRefusals}; 429 storms ${storms}, runaway loops ${runaways}`,
  );

  console.log('\n== Memory');
  console.log(`  heap after GC: start ${heapStart.toFixed(1)} MB, end ${heapEnd.toFixed(1)} MB, growth ${(heapEnd - heapStart).toFixed(1)} MB`);

  const unexpected = [...callerErrors.keys()].filter((name) => !['ProviderUnavailableError', 'RateLimitedError', 'IssuanceLimitError'].includes(name));
  const checks: Array<[string, boolean]> = [
    ['no client banned by the emulator', banned.length === 0],
    [`the guard's budget was never exceeded in any window (≤ ${GUARD_MAX_TOKENS} per lifetime)`, !budgetExceeded],
    ['no expired token served', expiredServed === 0],
    ['callers saw only the expected error types (unavailable, rate limited, issuance limit)', unexpected.length === 0],
    [`heap growth within noise (< ${HEAP_GROWTH_LIMIT_MB} MB)`, heapEnd - heapStart < HEAP_GROWTH_LIMIT_MB],
    ['tokens kept flowing (≥ 1 API call answered 200)', (apiStatuses.get(200) ?? 0) > 0],
  ];
  console.log('\n== Verdict');
  for (const [name, ok] of checks) console.log(`  ${ok ? 'PASS' : 'FAIL'}  ${name}`);
  if (banned.length > 0) console.log(`  banned: ${JSON.stringify(banned)}`);
  if (unexpected.length > 0) console.log(`  unexpected errors: ${unexpected.join(', ')}`);
  const passed = checks.every(([, ok]) => ok);
  console.log(passed ? '\nsoak: PASS' : '\nsoak: FAIL');

  await tokens.close();
  await emulator.close();
  process.exitCode = passed ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------------
// GC: re-run with --expose-gc when needed

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  const script = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', script, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, SOAK_SECONDS: String(DURATION_S) },
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)));
} else {
  await main(gc);
}
