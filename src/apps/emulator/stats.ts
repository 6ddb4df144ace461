import type { EmulatedProvider } from './options.js';

/** Why a token request was refused. */
export type RejectionReason = 'invalid_credentials' | 'rate_limited' | 'error_injected' | 'banned' | 'bad_request';

/** Outcome of a call to a provider's protected API. */
export type ApiOutcome = 'ok' | 'unauthorized' | 'banned' | 'bad_request' | 'rate_limited';

/** Counters for one provider or one client. */
export interface RequestCounters {
  /** Token requests that reached a token endpoint (= issued + every rejection). */
  tokenRequests: number;
  /** Tokens handed out. */
  tokensIssued: number;
  /** Refused token requests, by reason. */
  tokenRequestsRejected: Record<RejectionReason, number>;
  /**
   * Calls to the protected API, by outcome (`unauthorized` covers missing, unknown, expired, revoked
   * tokens; `rate_limited` the 429s of the API's own limit).
   */
  apiCalls: Record<ApiOutcome, number>;
}

/** Counters for one provider: its totals, and the same per registered client id. */
export interface EmulatedProviderStats extends RequestCounters {
  /**
   * Per client id. Only registered ids appear: requests naming an unknown id count in the
   * provider's totals only, so a stream of made-up ids cannot grow this without bound.
   */
  clients: Record<string, RequestCounters>;
}

/** A client that lost API access for excessive token generation. */
export interface BannedClient {
  /** Which provider's client is banned. */
  provider: EmulatedProvider;
  /** The banned client id. */
  clientId: string;
  /** When the ban began, epoch ms on the emulator's clock. */
  bannedAt: number;
}

/** Everything the emulator counted since it started or was last reset. A plain, JSON-safe object. */
export interface EmulatorStats {
  /** Counters per provider, each with its clients. */
  providers: Record<EmulatedProvider, EmulatedProviderStats>;
  /** Clients banned for excessive token generation, until `reset()`. */
  bannedClients: BannedClient[];
}

/** The emulator's counters. Holds client ids only: no secret or token ever reaches it. */
export class Counters {
  #providers = emptyProviders();

  tokenRequest(provider: EmulatedProvider, clientId: string | undefined): void {
    for (const counters of this.#targets(provider, clientId)) counters.tokenRequests += 1;
  }

  tokenIssued(provider: EmulatedProvider, clientId: string): void {
    for (const counters of this.#targets(provider, clientId)) counters.tokensIssued += 1;
  }

  tokenRejected(provider: EmulatedProvider, clientId: string | undefined, reason: RejectionReason): void {
    for (const counters of this.#targets(provider, clientId)) counters.tokenRequestsRejected[reason] += 1;
  }

  apiCall(provider: EmulatedProvider, clientId: string | undefined, outcome: ApiOutcome): void {
    for (const counters of this.#targets(provider, clientId)) counters.apiCalls[outcome] += 1;
  }

  reset(): void {
    this.#providers = emptyProviders();
  }

  /** A deep copy, so callers can keep or change it without touching the live counters. */
  snapshot(bannedClients: BannedClient[]): EmulatorStats {
    return structuredClone({ providers: this.#providers, bannedClients });
  }

  /** `clientId` must already be known to be registered (see `EmulatedProviderStats.clients`). */
  *#targets(provider: EmulatedProvider, clientId: string | undefined): Generator<RequestCounters> {
    const stats = this.#providers[provider];
    yield stats;
    if (clientId !== undefined) {
      // Object.hasOwn, not `in`: a client id such as "constructor" must get its own counters.
      if (!Object.hasOwn(stats.clients, clientId)) stats.clients[clientId] = emptyCounters();
      yield stats.clients[clientId] as RequestCounters;
    }
  }
}

function emptyProviders(): Record<EmulatedProvider, EmulatedProviderStats> {
  return {
    'alternative-payments': { ...emptyCounters(), clients: Object.create(null) as Record<string, RequestCounters> },
    autopay: { ...emptyCounters(), clients: Object.create(null) as Record<string, RequestCounters> },
  };
}

function emptyCounters(): RequestCounters {
  return {
    tokenRequests: 0,
    tokensIssued: 0,
    tokenRequestsRejected: { invalid_credentials: 0, rate_limited: 0, error_injected: 0, banned: 0, bad_request: 0 },
    apiCalls: { ok: 0, unauthorized: 0, banned: 0, bad_request: 0, rate_limited: 0 },
  };
}
