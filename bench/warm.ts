/**
 * 1. Warm hit: the cost of asking for a token that is already cached, beside the floor and the peers.
 *
 * tinybench times each task iteration with `performance.now()`; a cached lookup takes well under the
 * timer's own cost, so one iteration awaits a batch of calls and the per-call figure is the batch time
 * divided by the batch size; the figure is the median batch of the best of three interleaved rounds
 * (the least disturbed by whatever else the machine is doing). Every subject gets its own loop (a separate function literal), so no call
 * site is shared and none is made polymorphic by the others. Libraries without a cache pay a token
 * request per call: their batch is 1 and their time budget short.
 */
import { Bench } from 'tinybench';
import { ALL, type Instance, type Subject } from './subjects.js';
import type { RemoteTokenServer } from './token-server.js';

export interface WarmResult {
  readonly name: string;
  readonly call: string;
  readonly caches: boolean;
  /** Median batch time / batch size, best round. */
  readonly nsPerOp: number;
  /** Mean of the same round, for comparison. */
  readonly meanNsPerOp: number;
  readonly opsPerSec: number;
  /** Relative margin of error of the best round, %. */
  readonly rme: number;
  /** Calls measured in the best round. */
  readonly calls: number;
  /** Token requests the server saw per measured call (0 for a cache). */
  readonly requestsPerCall: number;
  /** nsPerOp / floor's nsPerOp. */
  ratio: number;
  readonly note?: string | undefined;
}

const FAST_BATCH = 1000;
const SLOW_BATCH = 20; // MSAL: tens of µs per cached call
const PROBE_CALLS = 20;
let sink: unknown;

/** The floor: an async function that returns an object from a Map after a Date.now() check. */
function makeFloor(): Instance {
  const cache = new Map<string, { accessToken: string; tokenType: 'Bearer'; expiresAt: number; issuedAt: number }>();
  const now = Date.now();
  cache.set('bench', { accessToken: 'a'.repeat(56), tokenType: 'Bearer', expiresAt: now + 3_600_000, issuedAt: now });
  async function floorGet(id: string) {
    const token = cache.get(id);
    if (token !== undefined && Date.now() < token.expiresAt) return token;
    throw new Error('floor: no token');
  }
  return { getToken: () => floorGet('bench'), close: async () => {} };
}

// One literal per subject: see the module comment.
const LOOPS: Record<string, (instance: Instance, batch: number) => () => Promise<void>> = {
  floor: (i, n) => async () => {
    for (let k = 0; k < n; k++) sink = await i.getToken();
  },
  tokenbroker: (i, n) => async () => {
    for (let k = 0; k < n; k++) sink = await i.getToken();
  },
  '@azure/msal-node': (i, n) => async () => {
    for (let k = 0; k < n; k++) sink = await i.getToken();
  },
  '@badgateway/oauth2-client': (i, n) => async () => {
    for (let k = 0; k < n; k++) sink = await i.getToken();
  },
  'google-auth-library': (i, n) => async () => {
    for (let k = 0; k < n; k++) sink = await i.getToken();
  },
  'openid-client': (i, n) => async () => {
    for (let k = 0; k < n; k++) sink = await i.getToken();
  },
  'simple-oauth2': (i, n) => async () => {
    for (let k = 0; k < n; k++) sink = await i.getToken();
  },
};

interface Entry {
  readonly name: string;
  readonly call: string;
  readonly caches: boolean;
  readonly note: string | undefined;
  readonly instance: Instance;
  readonly batch: number;
  readonly fn: () => Promise<void>;
  best: { nsPerOp: number; meanNsPerOp: number; rme: number; calls: number; requestsPerCall: number } | undefined;
}

export async function measureWarm(server: RemoteTokenServer, rounds = 3): Promise<WarmResult[]> {
  const floor: Subject = {
    name: 'floor',
    pkg: '',
    call: 'async (id) => { const t = map.get(id); if (Date.now() < t.expiresAt) return t; }',
    caches: true,
    create: () => makeFloor(),
  };
  const entries: Entry[] = [];
  for (const subject of [floor, ...ALL]) {
    const instance = subject.create(server.origin, server.tokenUrl);
    await instance.getToken(); // fills the cache: the measurement is of warm calls only
    const batch = !subject.caches ? 1 : subject.name === '@azure/msal-node' ? SLOW_BATCH : FAST_BATCH;
    const loop = LOOPS[subject.name];
    if (loop === undefined) throw new Error(`no loop for ${subject.name}`);
    entries.push({
      name: subject.name,
      call: subject.call,
      caches: subject.caches,
      note: subject.note,
      instance,
      batch,
      fn: loop(instance, batch),
      best: undefined,
    });
  }

  for (let round = 0; round < rounds; round++) {
    for (const entry of entries) {
      const bench = new Bench({
        name: `warm ${entry.name}`,
        time: 400,
        iterations: entry.caches ? 20 : 50,
        warmupTime: 150,
        warmupIterations: 5,
      });
      bench.add(entry.name, entry.fn);
      const [task] = await bench.run();
      const result = task?.result;
      if (result === undefined || !('latency' in result)) throw new Error(`warm ${entry.name}: ${JSON.stringify(result)}`);
      const runs = result.latency.samplesCount;
      // The median batch, not the mean: on a shared machine the mean carries other processes' pauses.
      const nsPerOp = (result.latency.p50 * 1e6) / entry.batch;
      const meanNsPerOp = (result.latency.mean * 1e6) / entry.batch;
      // Requests per call, counted by the server over a probe of plain calls after the timed run.
      const before = await server.tokenRequests();
      for (let k = 0; k < PROBE_CALLS; k++) await entry.instance.getToken();
      const requestsPerCall = ((await server.tokenRequests()) - before) / PROBE_CALLS;
      const candidate = { nsPerOp, meanNsPerOp, rme: result.latency.rme, calls: runs * entry.batch, requestsPerCall };
      if (entry.best === undefined || candidate.nsPerOp < entry.best.nsPerOp) entry.best = candidate;
    }
  }
  void sink;
  for (const entry of entries) await entry.instance.close();

  const floorNs = entries[0]!.best!.nsPerOp;
  return entries.map((entry) => ({
    name: entry.name,
    call: entry.call,
    caches: entry.caches,
    note: entry.note,
    nsPerOp: entry.best!.nsPerOp,
    meanNsPerOp: entry.best!.meanNsPerOp,
    opsPerSec: 1e9 / entry.best!.nsPerOp,
    rme: entry.best!.rme,
    calls: entry.best!.calls,
    requestsPerCall: entry.best!.requestsPerCall,
    ratio: entry.best!.nsPerOp / floorNs,
  }));
}
