/**
 * 5. Client overhead: `tokens.client(id).get(path).json()` (token from the cache, authorised fetch,
 * 401 rule) against plain ky with a fixed Authorization header, on the loopback server. Both run the
 * same request; rounds alternate between the two so drift on the machine hits both alike. The times
 * are the medians of the per-round medians; the overhead is the median of the per-round differences.
 */
import ky from 'ky';
import { Bench } from 'tinybench';
import { createTokenManager, oauth2 } from '../src/index.js';
import { CLIENT_ID, CLIENT_SECRET } from './subjects.js';
import type { RemoteTokenServer } from './token-server.js';

export interface ClientOverheadResult {
  /** Plain ky, µs per request (median of rounds). */
  readonly plainKyUs: number;
  /** tokens.client(id), µs per request. */
  readonly tokenbrokerUs: number;
  /** Median of the per-round differences, µs and % of plain ky. */
  readonly overheadUs: number;
  readonly overheadPct: number;
  readonly rounds: number;
  readonly requestsPerRound: number;
  /** Per-round medians, µs, to show the spread. */
  readonly plainRoundsUs: readonly number[];
  readonly tokenbrokerRoundsUs: readonly number[];
}

const ROUNDS = 9;

export async function measureClientOverhead(server: RemoteTokenServer): Promise<ClientOverheadResult> {
  const apiBaseUrl = `${server.origin}/api/`;
  const tokens = createTokenManager({
    providers: { api: oauth2({ tokenUrl: server.tokenUrl, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, apiBaseUrl }) },
  });
  const token = await tokens.getToken('api');
  const authorised = tokens.client('api');
  const plain = ky.create({ prefix: apiBaseUrl, headers: { authorization: `Bearer ${token.accessToken}` } });
  let sink: unknown;
  const tasks = {
    plain: async () => {
      sink = await plain.get('customers').json();
    },
    tokenbroker: async () => {
      sink = await authorised.get('customers').json();
    },
  };
  const medians: Record<keyof typeof tasks, number[]> = { plain: [], tokenbroker: [] };
  let requests = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (['plain', 'tokenbroker'] as const) : (['tokenbroker', 'plain'] as const);
    for (const name of order) {
      const bench = new Bench({ time: 400, iterations: 50, warmupTime: 100, warmupIterations: 10 });
      bench.add(name, tasks[name]);
      const [task] = await bench.run();
      const result = task?.result;
      if (result === undefined || !('latency' in result)) throw new Error(`client ${name}: ${JSON.stringify(result)}`);
      medians[name].push(result.latency.p50 * 1000);
      requests = Math.max(requests, result.latency.samplesCount);
    }
  }
  void sink;
  await tokens.close();
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const plainKyUs = median(medians.plain);
  const tokenbrokerUs = median(medians.tokenbroker);
  // Each round measures both back to back; the median of the per-round differences is less exposed to
  // the machine's load changing between rounds than the difference of the two medians.
  const overheadUs = median(medians.tokenbroker.map((us, round) => us - medians.plain[round]!));
  const overheadPct = median(medians.tokenbroker.map((us, round) => ((us - medians.plain[round]!) / medians.plain[round]!) * 100));
  return {
    plainKyUs,
    tokenbrokerUs,
    overheadUs,
    overheadPct,
    rounds: ROUNDS,
    requestsPerRound: requests,
    plainRoundsUs: medians.plain,
    tokenbrokerRoundsUs: medians.tokenbroker,
  };
}
