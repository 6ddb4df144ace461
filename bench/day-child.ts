/**
 * 3. A simulated day, run in its own process (the fake clock must not touch anything else): the
 * clock is @sinonjs/fake-timers, the token server answers in-process through providers made with
 * `defineProvider`, so no real I/O needs real time. Prints one JSON line: DayResult[].
 *
 * Traffic per credential, for 24 hours from midnight:
 * - steady: a call every 5 s;
 * - bursty: bursts of 1–200 concurrent calls, gaps drawn from an exponential distribution with a
 *   mean of 30 s (seeded, so every run is the same day).
 */
import { install } from '@sinonjs/fake-timers';
import { randomBytes } from 'node:crypto';
import { createTokenManager, defineProvider, type Provider } from '../src/index.js';

export interface DayResult {
  readonly provider: string;
  readonly credential: string;
  readonly traffic: string;
  readonly lifetimeSeconds: number;
  readonly leadSeconds: number;
  readonly calls: number;
  readonly tokenRequests: number;
  /** 1 + floor(86400 / (lifetime − lead)): the fewest with refresh-ahead and callers throughout the day. */
  readonly minimum: number;
  /** ceil(86400 / lifetime): one token per lifetime, callers blocked at every expiry. */
  readonly absoluteFloor: number;
  readonly failures: number;
}

const DAY_MS = 86_400_000;
const START = Date.UTC(2025, 0, 15, 0, 0, 0);

const clock = install({ now: START, toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });

// A small seeded generator (mulberry32), so the bursty day is the same on every run.
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Credential {
  readonly id: string;
  readonly provider: string;
  readonly traffic: 'steady' | 'bursty';
  readonly lifetimeSeconds: number;
  requests: number;
  calls: number;
  failures: number;
  /** Call times, ms after START, with the burst size. */
  readonly schedule: Array<[number, number]>;
}

const credentials: Credential[] = [];
const providers: Record<string, Provider> = {};
const rng = random(20250115);
for (const [provider, lifetimeSeconds] of [
  ['alternative-payments', 3600],
  ['autopay', 86_400],
] as const) {
  for (const traffic of ['steady', 'bursty'] as const) {
    const schedule: Array<[number, number]> = [];
    if (traffic === 'steady') {
      for (let t = 0; t < DAY_MS; t += 5000) schedule.push([t, 1]);
    } else {
      for (let t = 0; t < DAY_MS; t += Math.max(1, Math.round(-Math.log(1 - rng()) * 30_000))) {
        schedule.push([t, 1 + Math.floor(rng() * 200)]);
      }
    }
    const credential: Credential = { id: `${provider}-${traffic}`, provider, traffic, lifetimeSeconds, requests: 0, calls: 0, failures: 0, schedule };
    credentials.push(credential);
    providers[credential.id] = defineProvider({
      kind: `${provider}-simulated`,
      tokenUrl: `https://${provider}.simulated.invalid/oauth/token`,
      clientId: credential.id,
      clientSecret: 'simulated-secret',
      async requestToken() {
        credential.requests++;
        return { body: { access_token: randomBytes(28).toString('hex'), token_type: 'Bearer', expires_in: lifetimeSeconds } };
      },
    });
  }
}

const tokens = createTokenManager({ providers });

// Merge the schedules into one timeline and walk it with the fake clock.
const events: Array<[number, Credential, number]> = [];
for (const credential of credentials) for (const [at, burst] of credential.schedule) events.push([at, credential, burst]);
events.sort((a, b) => a[0] - b[0]);

let pending: Array<Promise<unknown>> = [];
for (const [at, credential, burst] of events) {
  const wait = START + at - Date.now();
  if (wait > 0) {
    await Promise.all(pending);
    pending = [];
    await clock.tickAsync(wait);
  }
  for (let i = 0; i < burst; i++) {
    credential.calls++;
    pending.push(
      tokens.getToken(credential.id).catch(() => {
        credential.failures++;
      }),
    );
  }
}
await Promise.all(pending);
await clock.tickAsync(START + DAY_MS - Date.now());
await tokens.close();
clock.uninstall();

const results: DayResult[] = credentials.map((credential) => {
  const lifetime = credential.lifetimeSeconds;
  // The default policy: refresh when max(10 % of the lifetime, 60 s) remains (at most half the lifetime).
  const lead = Math.min(Math.max(lifetime * 0.1, 60), lifetime / 2);
  return {
    provider: credential.provider,
    credential: credential.id,
    traffic: credential.traffic === 'steady' ? 'a call every 5 s' : 'bursts of 1–200 calls, mean gap 30 s',
    lifetimeSeconds: lifetime,
    leadSeconds: lead,
    calls: credential.calls,
    tokenRequests: credential.requests,
    minimum: 1 + Math.floor(86_400 / (lifetime - lead)),
    absoluteFloor: Math.ceil(86_400 / lifetime),
    failures: credential.failures,
  };
});
process.stdout.write(`${JSON.stringify(results)}\n`);
