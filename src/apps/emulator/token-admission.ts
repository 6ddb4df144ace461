import { setTimeout as sleep } from 'node:timers/promises';
import type { RegisteredClient } from './clients.js';
import type { EmulatedProvider } from './options.js';
import type { EmulatorState } from './state.js';

/** What a provider's own parsing of a token request concluded. `D` carries its wire details. */
export type Authentication<D> = { ok: true; client: RegisteredClient } | { ok: false; reason: 'bad_request' | 'invalid_credentials'; detail: D };

/** The verdict on a token request; the provider turns it into its own wire answer. */
export type Admission<D> =
  | { verdict: 'admitted'; client: RegisteredClient }
  | { verdict: 'forced_429'; retryAfterSeconds: number | undefined }
  | { verdict: 'rate_limited' }
  | { verdict: 'error_injected' }
  | { verdict: 'banned'; client: RegisteredClient }
  | { verdict: 'bad_request' | 'invalid_credentials'; detail: D };

/**
 * The policy every token request goes through, the same for both providers, in this order:
 * latency; injected failures (forced 429, then the error rate), which stand for the infrastructure
 * in front of the token server and so hit any request; the provider's own validation and
 * credential check; the ban; Alternative Payments' per-second limit. Counts the outcome.
 *
 * `claimedClientId` is the id the request names before it is authenticated; it only decides which
 * registered client's counters an early rejection is charged to.
 */
export async function admitTokenRequest<D>(
  state: EmulatorState,
  provider: EmulatedProvider,
  claimedClientId: string | undefined,
  authenticate: () => Authentication<D>,
): Promise<Admission<D>> {
  const countedId = state.clients.find(provider, claimedClientId)?.clientId;
  state.counters.tokenRequest(provider, countedId);

  const { latencyMs } = state.knobs;
  if (latencyMs > 0) await sleep(latencyMs, undefined, { signal: state.closing.signal });

  const forced = state.takeForced429();
  if (forced !== null) {
    state.counters.tokenRejected(provider, countedId, 'rate_limited');
    return { verdict: 'forced_429', retryAfterSeconds: forced.retryAfterSeconds };
  }
  if (state.knobs.errorRate > 0 && state.random() < state.knobs.errorRate) {
    state.counters.tokenRejected(provider, countedId, 'error_injected');
    return { verdict: 'error_injected' };
  }

  const authentication = authenticate();
  if (!authentication.ok) {
    state.counters.tokenRejected(provider, countedId, authentication.reason);
    return { verdict: authentication.reason, detail: authentication.detail };
  }
  const { client } = authentication;

  if (state.bans.isBanned(provider, client.clientId)) {
    state.counters.tokenRejected(provider, client.clientId, 'banned');
    return { verdict: 'banned', client };
  }
  if (provider === 'alternative-payments' && !state.rateLimiter.admit(client.clientId, state.now(), state.knobs.alternativePaymentsRateLimitPerSecond)) {
    state.counters.tokenRejected(provider, client.clientId, 'rate_limited');
    return { verdict: 'rate_limited' };
  }
  return { verdict: 'admitted', client };
}

/**
 * Counts a token the provider has just minted and applies the ban policy. The token that tips a
 * client over `maxTokens` is still issued (the excess happened), but from then on the client's
 * token requests and API calls are refused.
 */
export function recordIssued(state: EmulatorState, client: RegisteredClient): void {
  state.counters.tokenIssued(client.provider, client.clientId);
  state.bans.recordIssued(client.provider, client.clientId, state.now(), state.knobs.ban);
}

/** Counts a token request refused before admission, e.g. for a body over the size limit. */
export function rejectUnread(state: EmulatorState, provider: EmulatedProvider, claimedClientId: string | undefined): void {
  const countedId = state.clients.find(provider, claimedClientId)?.clientId;
  state.counters.tokenRequest(provider, countedId);
  state.counters.tokenRejected(provider, countedId, 'bad_request');
}
