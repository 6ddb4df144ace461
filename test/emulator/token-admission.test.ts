import { describe, expect, it } from 'vitest';
import { resolveEmulatorOptions } from '../../src/apps/emulator/options.js';
import { EmulatorState } from '../../src/apps/emulator/state.js';
import { admitTokenRequest, recordIssued, type Authentication } from '../../src/apps/emulator/token-admission.js';

// The shared policy in isolation: the order of the checks, and a fractional error rate made
// deterministic by pinning the random source (over HTTP only 0 and 1 are deterministic).

function newState(clock: { ms: number }, patch: Parameters<typeof resolveEmulatorOptions>[0] = {}): EmulatorState {
  return new EmulatorState(
    resolveEmulatorOptions({
      now: () => clock.ms,
      clients: [{ provider: 'alternative-payments', clientId: 'ap', clientSecret: 's' }],
      ...patch,
    }),
  );
}

function authenticated(state: EmulatorState): () => Authentication<string> {
  const client = state.clients.authenticate('alternative-payments', 'ap', 's');
  if (client === undefined) throw new Error('test client missing');
  return () => ({ ok: true, client });
}

describe('admitTokenRequest', () => {
  it('hits exactly the requests whose random draw falls under errorRate', async () => {
    const state = newState({ ms: 0 }, { errorRate: 0.25, alternativePaymentsRateLimitPerSecond: 0 });
    const verdicts: string[] = [];
    for (const draw of [0, 0.2499, 0.25, 0.9]) {
      state.random = () => draw;
      verdicts.push((await admitTokenRequest(state, 'alternative-payments', 'ap', authenticated(state))).verdict);
    }
    expect(verdicts).toEqual(['error_injected', 'error_injected', 'admitted', 'admitted']);
    expect(state.stats().providers['alternative-payments'].clients['ap']?.tokenRequestsRejected.error_injected).toBe(2);
  });

  it('checks forced 429, error rate, the provider, the ban, then the rate limit, in that order', async () => {
    const clock = { ms: 0 };
    const state = newState(clock, { alternativePaymentsRateLimitPerSecond: 1, ban: { maxTokens: 1, windowSeconds: 60 } });
    const refuse = (): Authentication<string> => ({ ok: false, reason: 'invalid_credentials', detail: 'nope' });
    const admit = authenticated(state);

    state.configure({ force429: { count: 1 }, errorRate: 1 });
    expect((await admitTokenRequest(state, 'alternative-payments', 'ap', refuse)).verdict).toBe('forced_429');
    expect((await admitTokenRequest(state, 'alternative-payments', 'ap', refuse)).verdict).toBe('error_injected');
    state.configure({ errorRate: 0 });
    expect(await admitTokenRequest(state, 'alternative-payments', 'ap', refuse)).toEqual({ verdict: 'invalid_credentials', detail: 'nope' });

    const first = await admitTokenRequest(state, 'alternative-payments', 'ap', admit);
    expect(first.verdict).toBe('admitted');
    if (first.verdict === 'admitted') recordIssued(state, first.client);
    expect((await admitTokenRequest(state, 'alternative-payments', 'ap', admit)).verdict).toBe('rate_limited');
    clock.ms += 1000;
    const second = await admitTokenRequest(state, 'alternative-payments', 'ap', admit);
    if (second.verdict === 'admitted') recordIssued(state, second.client);
    // Two tokens within the window against maxTokens 1: banned, and the ban outranks the rate limit.
    expect((await admitTokenRequest(state, 'alternative-payments', 'ap', admit)).verdict).toBe('banned');
  });
});
