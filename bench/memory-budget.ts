/**
 * `npm run bench:memory-budget`: what the smallest layouts of tokenbroker's per-credential
 * state would cost, measured the way bench/memory-child.ts measures the libraries (10,000 credentials,
 * a full-size run dropped first, heapUsed after settled GCs). Not the library: plain classes with the
 * fields each layout needs, so that docs/performance.md can say what a memory target demands of the
 * design, each step backed by a figure.
 *
 * Every layout holds what no design can drop: a `Map` from id to the credential's state (getToken(id)),
 * a provider object like `alternativePayments()` (cache key, client id, secret, shared endpoint) with its
 * 22-character cache key, the token { accessToken, tokenType, expiresAt, issuedAt } with its
 * 56-character string, and the token's resolved promise (the allocation-free warm hit).
 */
import { createHash, randomBytes } from 'node:crypto';
import { settledHeap } from './settled-heap.ts';

const N = 10_000;

interface Token {
  readonly accessToken: string;
  readonly tokenType: 'Bearer';
  readonly expiresAt: number;
  readonly issuedAt: number;
}

const ENDPOINT = Object.freeze({ kind: 'alternative-payments', tokenUrl: 'https://ap.example.test/oauth/token' });

class Provider {
  readonly cacheKey: string;
  readonly #clientId: string;
  readonly #clientSecret: string;
  readonly #endpoint: object;
  constructor(clientId: string, clientSecret: string) {
    this.cacheKey = createHash('sha256').update(clientId).update(clientSecret).digest().subarray(0, 16).toString('base64url');
    this.#clientId = clientId;
    this.#clientSecret = clientSecret;
    this.#endpoint = ENDPOINT;
    Object.freeze(this);
  }
  describe(): string {
    return `${this.#clientId}${this.#clientSecret.length}${String(this.#endpoint)}`;
  }
}

/** The per-id state when it holds the cache entry itself: the token, its promise, the refresh point and the counters. */
class Registration {
  readonly provider: Provider;
  token: Token | undefined = undefined;
  promise: Promise<Token> | undefined = undefined;
  refreshAfter = 0;
  /** Rare state: the reason of the next fetch, an invalidated token, rare counters. */
  rare: object | undefined = undefined;
  hits = 0;
  misses = 0;
  requestsSent = 0;
  coldStart = 0;
  expiry = 0;
  refreshAhead = 0;
  rareCounters: object | undefined = undefined;
  constructor(provider: Provider) {
    this.provider = provider;
  }
}

/** The same with the issuance ledger's time and two links of an intrusive LRU list. */
class LedgerLruRegistration extends Registration {
  issuedAt = 0.5;
  older: LedgerLruRegistration | undefined = undefined;
  newer: LedgerLruRegistration | undefined = undefined;
}

function tokenFor(): Token {
  const now = Date.now();
  return Object.freeze({ accessToken: randomBytes(28).toString('hex'), tokenType: 'Bearer', expiresAt: now + 3_600_000, issuedAt: now });
}

type Layout = (ids: readonly string[]) => unknown;

/** A registration of `make`'s class holding a fresh token, as after its first fetch. */
function registered<R extends Registration>(make: (provider: Provider) => R, id: string): R {
  const registration = make(new Provider(id, 'bench-secret'));
  registration.token = tokenFor();
  registration.promise = Promise.resolve(registration.token);
  registration.refreshAfter = 3_240_000;
  registration.misses = registration.requestsSent = registration.coldStart = 1;
  return registration;
}

const layouts: Record<string, Layout> = {
  'floor: Map of tokens': (ids) => new Map(ids.map((id) => [id, tokenFor()])),
  'registration with the cache entry and counters (12 fields)': (ids) => new Map(ids.map((id) => [id, registered((p) => new Registration(p), id)])),
  '+ an index by cache key (one token per credential across ids)': (ids) => {
    const byId = new Map(ids.map((id) => [id, registered((p) => new Registration(p), id)]));
    return [byId, new Map(Array.from(byId.values(), (registration) => [registration.provider.cacheKey, registration]))];
  },
  '+ the ledger time and an intrusive LRU (no lru-cache, no ledger Map)': (ids) => {
    const byId = new Map<string, LedgerLruRegistration>();
    let newest: LedgerLruRegistration | undefined;
    for (const id of ids) {
      const registration = registered((p) => new LedgerLruRegistration(p), id);
      registration.issuedAt = registration.token!.issuedAt;
      registration.older = newest;
      if (newest !== undefined) newest.newer = registration;
      newest = registration;
      byId.set(id, registration);
    }
    return [byId, new Map(Array.from(byId.values(), (registration) => [registration.provider.cacheKey, registration]))];
  },
};

const ids = Array.from({ length: N }, (_, i) => `client-${String(i).padStart(5, '0')}`);

/** One layout's bytes per credential; what it built dies with this call, before the next baseline. */
async function measure(build: Layout): Promise<number> {
  build(ids.map((id) => `${id}-w`)); // the full-size run first, dropped
  const before = await settledHeap();
  const kept = build(ids);
  const after = await settledHeap();
  void kept;
  return Math.round((after - before) / N);
}

const results: { layout: string; bytesPerCredential: number }[] = [];
for (const [layout, build] of Object.entries(layouts)) results.push({ layout, bytesPerCredential: await measure(build) });
console.table(results);
process.stdout.write(`${JSON.stringify(results)}\n`);
