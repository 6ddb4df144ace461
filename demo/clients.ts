/**
 * The two clients the workload runs with:
 *
 * - tokenbroker's: `tokens.client(id)` ky instances sharing one manager; every call also times
 *   `getToken` (what each service pays for its token).
 * - the naive one: plain `fetch`, a new token for every API request — the pattern both providers
 *   punish ("may lead to termination of API access").
 */
import { isHTTPError, type KyInstance } from 'ky';
import type { TokenManager } from '../src/index.js';
import type { EmulatorClient } from '../src/apps/emulator/index.js';
import { ApiCallError, type CustomerPage, type PaymentApis } from './workload.js';

/** Collects `getToken` latencies, in milliseconds (fractions from `performance.now()`). */
export class LatencyRecorder {
  #samples = new Float64Array(1 << 16);
  #count = 0;

  record(ms: number): void {
    if (this.#count === this.#samples.length) {
      const bigger = new Float64Array(this.#samples.length * 2);
      bigger.set(this.#samples);
      this.#samples = bigger;
    }
    this.#samples[this.#count++] = ms;
  }

  get count(): number {
    return this.#count;
  }

  /** The p-th percentile (0..100), nearest rank; 0 without samples. */
  percentile(p: number): number {
    if (this.#count === 0) return 0;
    const sorted = this.#samples.slice(0, this.#count).sort();
    const rank = Math.min(this.#count - 1, Math.max(0, Math.ceil((p / 100) * this.#count) - 1));
    return sorted[rank]!;
  }
}

async function kyCall<T>(request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error) {
    if (isHTTPError(error)) throw new ApiCallError(error.response.status, `HTTP ${error.response.status}`);
    throw new ApiCallError(0, error instanceof Error ? error.message : String(error));
  }
}

/** The services' client on tokenbroker: one manager, `tokens.client()` per API. */
export function tokenbrokerApis(tokens: TokenManager, latency: LatencyRecorder): PaymentApis {
  // ky's own retries are off: the numbers should show what tokenbroker did, not ky.
  const ap: KyInstance = tokens.client('ap').extend({ retry: 0 });
  const autopay: KyInstance = tokens.client('autopay').extend({ retry: 0 });

  // What a service waits for its token: the time until the promise settles, measured in-line with the
  // rest of the work on the event loop, as a real service would see it.
  async function timedToken(id: 'ap' | 'autopay'): Promise<void> {
    const start = performance.now();
    await tokens.getToken(id);
    latency.record(performance.now() - start);
  }

  return {
    async listCustomers({ limit, after }) {
      await timedToken('ap');
      return kyCall(() => ap.get('customers', { searchParams: after === undefined ? { limit } : { limit, after } }).json<CustomerPage>());
    },
    async joinClub(person) {
      await timedToken('autopay');
      return kyCall(() => autopay.post('customer_club/v2/join', { json: person }).json<{ member_id: string }>());
    },
  };
}

/** Where the naive client sends its requests. */
export interface NaiveTargets {
  readonly alternativePaymentsBaseUrl: string;
  readonly autopayTokenUrl: string;
  readonly autopayApiBaseUrl: string;
}

/** Token requests the naive client sent, per provider. */
export interface NaiveCounts {
  ap: number;
  autopay: number;
}

/** The naive client: plain fetch, a fresh token for every single API request. */
export function naiveApis(targets: NaiveTargets, apClient: EmulatorClient, autopayClient: EmulatorClient, counts: NaiveCounts): PaymentApis {
  const basic = `Basic ${Buffer.from(`${apClient.clientId}:${apClient.clientSecret}`).toString('base64')}`;

  async function apToken(): Promise<string> {
    counts.ap++;
    const response = await fetch(`${targets.alternativePaymentsBaseUrl}/oauth/token`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new ApiCallError(response.status, `token request answered ${response.status}`);
    }
    return ((await response.json()) as { access_token: string }).access_token;
  }

  async function autopayToken(): Promise<string> {
    counts.autopay++;
    const response = await fetch(targets.autopayTokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_id: autopayClient.clientId,
        client_secret: autopayClient.clientSecret,
        audience: 'https://api.autopay.io',
        grant_type: 'client_credentials',
      }),
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new ApiCallError(response.status, `token request answered ${response.status}`);
    }
    return ((await response.json()) as { access_token: string }).access_token;
  }

  async function json<T>(response: Response): Promise<T> {
    if (!response.ok) {
      await response.body?.cancel();
      throw new ApiCallError(response.status, `HTTP ${response.status}`);
    }
    return (await response.json()) as T;
  }

  return {
    async listCustomers({ limit, after }) {
      const token = await apToken();
      const query = new URLSearchParams({ limit: String(limit), ...(after === undefined ? {} : { after }) });
      return json(await fetch(`${targets.alternativePaymentsBaseUrl}/customers?${query}`, { headers: { authorization: `Bearer ${token}` } }));
    },
    async joinClub(person) {
      const token = await autopayToken();
      return json(
        await fetch(`${targets.autopayApiBaseUrl}/customer_club/v2/join`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(person),
        }),
      );
    },
  };
}
