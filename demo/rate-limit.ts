/**
 * The demo's pacing segment (issue 20): several services share one Alternative Payments credential and
 * burst above its API limit of 5 requests per second, which the emulator enforces per client. Through
 * tokenbroker the calls are paced (`rateLimit`, 5 per 1000 ms by default) and the emulator answers no
 * 429; a plain-fetch client with the same bursts and one token collects the 429s.
 */
import { alternativePayments, createTokenManager } from '../src/index.js';
import type { Emulator, EmulatorClient } from '../src/apps/emulator/index.js';

/** One side of the segment. */
export interface RateLimitSide {
  /** API calls answered 200. */
  readonly ok: number;
  /** Calls that reached the caller as an error (a 429 or anything else). */
  readonly failed: number;
  /** 429s the emulator answered to the client, from its own counters. */
  readonly api429: number;
  /** The longest a caller waited for its answer, ms. */
  readonly longestMs: number;
}

/** What the segment measured. */
export interface RateLimitSummary {
  readonly services: number;
  readonly burst: number;
  readonly bursts: number;
  readonly tokenbroker: RateLimitSide;
  readonly naive: RateLimitSide;
}

const SERVICES = 3;
const BURST = 5;
const BURSTS = 2;
/**
 * 15 calls a burst at 5 a second: three seconds to drain (a little more, as each slot counts from its
 * answer), within the default maxWaitMs of 5 s.
 */
const BURST_EVERY_MS = 4_000;

/** Runs both sides on `emulator` (its counters and bans are reset before each). */
export async function runRateLimitSegment(emulator: Emulator, client: EmulatorClient, say: (line: string) => void): Promise<RateLimitSummary> {
  emulator.configure({ alternativePaymentsApiRateLimitPerSecond: 5 });
  emulator.reset();
  say(
    `${SERVICES} services each fire ${BURST} concurrent GET /customers at once, ${BURSTS} times ${BURST_EVERY_MS / 1000} s apart — ${SERVICES * BURST} calls a burst against 5 a second`,
  );
  const tokens = createTokenManager({
    providers: { ap: alternativePayments({ clientId: client.clientId, clientSecret: client.clientSecret, baseUrl: emulator.alternativePaymentsBaseUrl }) },
  });
  let tokenbroker: RateLimitSide;
  try {
    const api = tokens.client('ap');
    tokenbroker = await bursts(async () => {
      const response = await api.get('customers?limit=1', { throwHttpErrors: false, retry: 0 });
      await response.body?.cancel();
      return response.status;
    }, emulator);
  } finally {
    await tokens.close();
  }
  say(`tokenbroker: ${tokenbroker.ok} ok, ${tokenbroker.failed} failed, the emulator answered ${tokenbroker.api429} times 429`);

  emulator.reset();
  const token = await naiveToken(emulator, client);
  const naive = await bursts(async () => {
    const response = await fetch(`${emulator.alternativePaymentsBaseUrl}/customers?limit=1`, { headers: { authorization: `Bearer ${token}` } });
    await response.body?.cancel();
    return response.status;
  }, emulator);
  say(`naive (plain fetch, one token): ${naive.ok} ok, ${naive.failed} failed, the emulator answered ${naive.api429} times 429`);
  return { services: SERVICES, burst: BURST, bursts: BURSTS, tokenbroker, naive };
}

async function bursts(call: () => Promise<number>, emulator: Emulator): Promise<RateLimitSide> {
  let ok = 0;
  let failed = 0;
  let longestMs = 0;
  for (let round = 0; round < BURSTS; round++) {
    const started = performance.now();
    const statuses = await Promise.all(
      Array.from({ length: SERVICES * BURST }, () =>
        call().then(
          (status) => {
            longestMs = Math.max(longestMs, performance.now() - started);
            return status;
          },
          () => 0,
        ),
      ),
    );
    for (const status of statuses)
      if (status === 200) ok++;
      else failed++;
    const rest = BURST_EVERY_MS - (performance.now() - started);
    if (round < BURSTS - 1 && rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
  }
  const api429 = emulator.stats().providers['alternative-payments'].apiCalls.rate_limited;
  return { ok, failed, api429, longestMs };
}

async function naiveToken(emulator: Emulator, client: EmulatorClient): Promise<string> {
  const response = await fetch(`${emulator.alternativePaymentsBaseUrl}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  return ((await response.json()) as { access_token: string }).access_token;
}
