/**
 * The demo: the emulator in-process, one workload run through tokenbroker (cold-start burst, a token
 * expiring mid-run, a server-side revocation), then the same workload through a naive client that
 * the emulator bans. Returns the numbers, and the list of anything that came out wrong.
 */
import { alternativePayments, autopay, createTokenManager, type Logger, type ProviderStats } from '../src/index.js';
import { SAMPLE_CLIENTS, startEmulator, type EmulatorStats } from '../src/apps/emulator/index.js';
import { LatencyRecorder, naiveApis, tokenbrokerApis, type NaiveCounts } from './clients.js';
import { emptyCounts, runWorkload, totalCalls, type WorkloadCounts } from './workload.js';
import { runRateLimitSegment, type RateLimitSummary } from './rate-limit.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Length of the tokenbroker run (default 12 000 ms). */
  readonly durationMs?: number;
  /** Lifetime of Alternative Payments tokens in the emulator, so one expires mid-run (default 8 s). */
  readonly apTokenLifetimeSeconds?: number;
  /** Longest the naive run may take; it ends a second after both its clients are banned (default 8 000 ms). */
  readonly naiveMaxMs?: number;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
  /** Runs phase 3, the API rate limit (default true). */
  readonly rateLimitSegment?: boolean;
}

/** Tokens issued by reason, as `tokens.stats()` counts them. */
export type IssuedByReason = ProviderStats['tokensIssued'];

type PerApi<T> = { ap: T; autopay: T };

/** What the demo measured. */
export interface DemoSummary {
  /** Wall time of the whole demo, ms. */
  readonly durationMs: number;
  readonly apTokenLifetimeSeconds: number;
  readonly tokenbroker: {
    readonly durationMs: number;
    readonly calls: WorkloadCounts;
    /** From `tokens.stats()`. */
    readonly tokensIssued: PerApi<IssuedByReason>;
    /** Token requests the emulator received (every attempt, refused ones included). */
    readonly emulatorTokenRequests: PerApi<number>;
    readonly emulatorTokensIssued: PerApi<number>;
    /** `getToken` calls answered from the cache, 0..1. */
    readonly hitRate: number;
    readonly getTokenCalls: number;
    /** Callers that joined a token request under way instead of sending their own. */
    readonly deduplicated: number;
    readonly getTokenLatencyUs: { readonly samples: number; readonly p50: number; readonly p99: number };
    readonly banned: boolean;
  };
  readonly naive: {
    readonly durationMs: number;
    readonly calls: WorkloadCounts;
    readonly tokenRequests: PerApi<number>;
    readonly emulatorTokensIssued: PerApi<number>;
    /** Ms after the naive run started that the emulator banned each client; undefined if it did not. */
    readonly bannedAfterMs: PerApi<number | undefined>;
  };
  /** Phase 3: bursts above the API limit, paced by tokenbroker and not by a plain client. */
  readonly rateLimit: RateLimitSummary | undefined;
  /** Everything that came out wrong; empty on a good run. */
  readonly problems: string[];
}

const NAMES = { ap: 'Alternative Payments', autopay: 'Autopay' } as const;
const PROVIDER_OF = { ap: 'alternative-payments', autopay: 'autopay' } as const;

/** Runs the demo workload; see the module comment. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoSummary> {
  const durationMs = options.durationMs ?? 12_000;
  const apLifetime = options.apTokenLifetimeSeconds ?? 8;
  const naiveMaxMs = options.naiveMaxMs ?? 8_000;
  const log = options.log ?? (() => {});
  const demoStart = performance.now();
  let phaseStart = demoStart;
  const say = (line: string) => log(`[${((performance.now() - phaseStart) / 1000).toFixed(1).padStart(5)}s] ${line}`);
  const [apClient, autopayClient] = SAMPLE_CLIENTS;

  // Phases 1 and 2 are about tokens at throughput (hundreds of API calls a second): the emulator's API
  // limit is off for them, and tokenbroker's pacing with it. Phase 3 turns both on.
  const emulator = await startEmulator({ tokenLifetimeSeconds: { alternativePayments: apLifetime }, alternativePaymentsApiRateLimitPerSecond: 0 });
  try {
    const knobs = emulator.knobs();
    log(
      `emulator on ${emulator.url}: Alternative Payments tokens last ${apLifetime} s, Autopay ${knobs.tokenLifetimeSeconds.autopay} s; ` +
        `${knobs.ban === false ? 'no ban' : `a client issued more than ${knobs.ban.maxTokens} tokens in ${knobs.ban.windowSeconds / 60} min is banned`}`,
    );
    log("phases 1 and 2 run at throughput: the emulator's API limit (5/s) and tokenbroker's pacing are off for them; phase 3 turns both on");

    // ---------------------------------------------------------------------------------------------
    // Phase 1: tokenbroker
    log('');
    log(
      `phase 1: tokenbroker — 5 services share one token manager for ${(durationMs / 1000).toFixed(0)} s ` +
        '(billing-sync pages AP customers, club-signup joins Autopay members, storefront bursts 40 calls every 0.75 s)',
    );
    phaseStart = performance.now();
    const logger: Logger = {
      debug: () => {},
      info: (object, message) => {
        if (message === 'new token issued') {
          const id = object.provider as keyof typeof NAMES;
          say(`tokenbroker: new ${NAMES[id] ?? String(id)} token (${String(object.reason)})`);
        }
      },
      warn: (_object, message) => say(`tokenbroker warning: ${message}`),
      error: (_object, message) => say(`tokenbroker error: ${message}`),
    };
    const tokens = createTokenManager({
      providers: {
        ap: alternativePayments({
          clientId: apClient.clientId,
          clientSecret: apClient.clientSecret,
          baseUrl: emulator.alternativePaymentsBaseUrl,
          rateLimit: false,
        }),
        autopay: autopay({
          clientId: autopayClient.clientId,
          clientSecret: autopayClient.clientSecret,
          tokenUrl: emulator.autopayTokenUrl,
          apiBaseUrl: emulator.autopayApiBaseUrl,
        }),
      },
      logger,
    });
    const latency = new LatencyRecorder();
    const tbCounts = emptyCounts();
    let tbStats: EmulatorStats;
    let tbDurationMs: number;
    try {
      const progress = setInterval(() => say(progressLine(tbCounts, tokens.stats().byProvider)), 2_000);
      const revokeAt = Math.round(durationMs * 0.55);
      const revocation = setTimeout(() => {
        say('emulator: every token revoked server-side — the next API calls get 401 and tokenbroker rotates');
        emulator.revokeTokens();
      }, revokeAt);
      try {
        await runWorkload(tokenbrokerApis(tokens, latency), { durationMs, counts: tbCounts });
      } finally {
        clearInterval(progress);
        clearTimeout(revocation);
      }
      tbDurationMs = performance.now() - phaseStart;
      say(`done: ${progressLine(tbCounts, tokens.stats().byProvider)}`);
      tbStats = emulator.stats();
    } finally {
      await tokens.close();
    }
    const managerStats = tokens.stats();

    // ---------------------------------------------------------------------------------------------
    // Phase 2: the naive client, on the same credentials, from a clean slate of counters
    emulator.reset();
    log('');
    log('phase 2: the same workload through a naive client — plain fetch, a new token for every API request');
    phaseStart = performance.now();
    const naiveStartEpoch = Date.now();
    const naiveTokenRequests: NaiveCounts = { ap: 0, autopay: 0 };
    const naiveCounts = emptyCounts();
    const bannedAt: PerApi<number | undefined> = { ap: undefined, autopay: undefined };
    let bothBannedAt: number | undefined;
    const watch = setInterval(() => {
      for (const banned of emulator.stats().bannedClients) {
        const id = banned.provider === 'alternative-payments' ? 'ap' : 'autopay';
        if (bannedAt[id] !== undefined) continue;
        bannedAt[id] = Math.max(0, banned.bannedAt - naiveStartEpoch);
        say(`emulator: ${banned.clientId} BANNED for excessive token generation (${naiveTokenRequests[id]} token requests so far)`);
      }
      if (bothBannedAt === undefined && bannedAt.ap !== undefined && bannedAt.autopay !== undefined) bothBannedAt = performance.now();
    }, 50);
    const progress = setInterval(() => say(naiveProgressLine(naiveCounts, naiveTokenRequests)), 2_000);
    try {
      await runWorkload(naiveApis(emulator, apClient, autopayClient, naiveTokenRequests), {
        durationMs: Math.max(naiveMaxMs, 1_000),
        counts: naiveCounts,
        // A second after both bans, the point is made.
        stopWhen: () => bothBannedAt !== undefined && performance.now() - bothBannedAt > 1_000,
      });
    } finally {
      clearInterval(watch);
      clearInterval(progress);
    }
    const naiveDurationMs = performance.now() - phaseStart;
    say(`done: ${naiveProgressLine(naiveCounts, naiveTokenRequests)}`);
    const naiveStats = emulator.stats();

    // ---------------------------------------------------------------------------------------------
    // Phase 3: the API's own rate limit, with pacing on
    let rateLimit: RateLimitSummary | undefined;
    if (options.rateLimitSegment !== false) {
      log('');
      log("phase 3: the API's rate limit — Alternative Payments allows 5 calls a second per key; tokenbroker paces, a plain client does not");
      phaseStart = performance.now();
      rateLimit = await runRateLimitSegment(emulator, apClient, say);
    }

    // ---------------------------------------------------------------------------------------------
    const byProvider = managerStats.byProvider;
    const lookups = managerStats.hits + managerStats.misses;
    const summary: DemoSummary = {
      durationMs: performance.now() - demoStart,
      apTokenLifetimeSeconds: apLifetime,
      tokenbroker: {
        durationMs: tbDurationMs,
        calls: tbCounts,
        tokensIssued: { ap: byProvider.ap!.tokensIssued, autopay: byProvider.autopay!.tokensIssued },
        emulatorTokenRequests: perApi((id) => tbStats.providers[PROVIDER_OF[id]].tokenRequests),
        emulatorTokensIssued: perApi((id) => tbStats.providers[PROVIDER_OF[id]].tokensIssued),
        hitRate: lookups === 0 ? 0 : managerStats.hits / lookups,
        getTokenCalls: lookups,
        deduplicated: managerStats.deduplicated,
        getTokenLatencyUs: { samples: latency.count, p50: latency.percentile(50) * 1000, p99: latency.percentile(99) * 1000 },
        banned: tbStats.bannedClients.length > 0,
      },
      naive: {
        durationMs: naiveDurationMs,
        calls: naiveCounts,
        tokenRequests: { ...naiveTokenRequests },
        emulatorTokensIssued: perApi((id) => naiveStats.providers[PROVIDER_OF[id]].tokensIssued),
        bannedAfterMs: bannedAt,
      },
      rateLimit,
      problems: [],
    };
    summary.problems.push(...checkSummary(summary, durationMs));
    return summary;
  } finally {
    await emulator.close();
  }
}

function perApi<T>(value: (id: 'ap' | 'autopay') => T): PerApi<T> {
  return { ap: value('ap'), autopay: value('autopay') };
}

function progressLine(counts: WorkloadCounts, stats: Record<string, ProviderStats>): string {
  const failed = counts.ap.failed + counts.autopay.failed;
  return (
    `${totalCalls(counts).toLocaleString('en-US')} API calls (AP ${counts.ap.ok.toLocaleString('en-US')}, ` +
    `Autopay ${counts.autopay.ok.toLocaleString('en-US')}, failed ${failed}) · tokens issued: ` +
    `AP ${stats.ap?.tokensIssued.total ?? 0}, Autopay ${stats.autopay?.tokensIssued.total ?? 0}`
  );
}

function naiveProgressLine(counts: WorkloadCounts, tokenRequests: NaiveCounts): string {
  return (
    `${totalCalls(counts).toLocaleString('en-US')} API calls attempted (ok: AP ${counts.ap.ok}, Autopay ${counts.autopay.ok}) · ` +
    `token requests: AP ${tokenRequests.ap.toLocaleString('en-US')}, Autopay ${tokenRequests.autopay.toLocaleString('en-US')}`
  );
}

/**
 * The most tokens tokenbroker may take for Alternative Payments: the first, one refresh per half
 * lifetime (refresh-ahead starts at half of a short token's life), one rotation after the revocation,
 * and one to spare. Autopay's 24-hour token: the first, the rotation, one to spare.
 */
export function tokenBounds(durationMs: number, apLifetimeSeconds: number): PerApi<number> {
  return { ap: 3 + Math.ceil(durationMs / (apLifetimeSeconds * 500)), autopay: 3 };
}

/** What must hold after a demo run; each broken rule is one line. */
export function checkSummary(summary: DemoSummary, durationMs: number): string[] {
  const problems: string[] = [];
  const tb = summary.tokenbroker;
  const bounds = tokenBounds(durationMs, summary.apTokenLifetimeSeconds);
  if (tb.banned) problems.push('the emulator banned tokenbroker');
  for (const id of ['ap', 'autopay'] as const) {
    const issued = tb.tokensIssued[id];
    if (issued.total > bounds[id]) problems.push(`tokenbroker took ${issued.total} ${NAMES[id]} tokens; at most ${bounds[id]} expected`);
    if (issued.coldStart !== 1) problems.push(`${NAMES[id]}: ${issued.coldStart} cold-start tokens; single-flight should make it exactly 1`);
    if (issued.invalidated < 1) problems.push(`${NAMES[id]}: the revocation was not answered by a 401 rotation`);
    if (tb.emulatorTokensIssued[id] !== issued.total) {
      problems.push(`${NAMES[id]}: the emulator issued ${tb.emulatorTokensIssued[id]} tokens but tokenbroker counted ${issued.total}`);
    }
    if (tb.calls[id].failed > 0) problems.push(`${tb.calls[id].failed} ${NAMES[id]} API calls failed through tokenbroker`);
    if (tb.calls[id].ok === 0) problems.push(`no ${NAMES[id]} API call succeeded through tokenbroker`);
  }
  // A token must expire (and be replaced) mid-run, when the run is long enough for it.
  const apIssued = tb.tokensIssued.ap;
  if (durationMs > summary.apTokenLifetimeSeconds * 1000 * 0.6 && apIssued.refreshAhead + apIssued.expiry < 1) {
    problems.push('no Alternative Payments token was refreshed or replaced on expiry during the run');
  }
  const paced = summary.rateLimit?.tokenbroker;
  if (paced !== undefined && (paced.api429 > 0 || paced.failed > 0)) {
    problems.push(`pacing: the emulator answered tokenbroker ${paced.api429} times 429 and ${paced.failed} calls failed; 0 and 0 expected`);
  }
  if (summary.rateLimit !== undefined && summary.rateLimit.naive.api429 === 0)
    problems.push('pacing: the plain client saw no 429: the emulator did not enforce its API limit');
  if (summary.naive.bannedAfterMs.ap === undefined && summary.naive.bannedAfterMs.autopay === undefined) {
    problems.push('the naive client was not banned: the emulator ban did not trigger');
  }
  return problems;
}
