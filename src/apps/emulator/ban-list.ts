import type { BanPolicy, EmulatedProvider } from './options.js';
import type { BannedClient } from './stats.js';

/**
 * Counts tokens issued per client in a rolling window and bans a client that exceeds the policy,
 * as Autopay warns it may ("excessive token generation may lead to termination of API access").
 * A ban lasts until `reset()`: the real providers lift one only by hand.
 */
export class BanList {
  readonly #issuedAt = new Map<string, number[]>();
  readonly #banned = new Map<string, BannedClient>();

  /** Whether the client has lost access (until `reset`). */
  isBanned(provider: EmulatedProvider, clientId: string): boolean {
    return this.#banned.has(key(provider, clientId));
  }

  /** Records one issued token; returns true when this issuance got the client banned. */
  recordIssued(provider: EmulatedProvider, clientId: string, now: number, policy: BanPolicy | false): boolean {
    if (policy === false) return false;
    const clientKey = key(provider, clientId);
    const windowStart = now - policy.windowSeconds * 1000;
    const recent = (this.#issuedAt.get(clientKey) ?? []).filter((issuedAt) => issuedAt > windowStart);
    recent.push(now);
    this.#issuedAt.set(clientKey, recent);
    if (recent.length <= policy.maxTokens || this.#banned.has(clientKey)) return false;
    this.#banned.set(clientKey, { provider, clientId, bannedAt: now });
    this.#issuedAt.delete(clientKey);
    return true;
  }

  /** Copies of the current bans, for the counters. */
  bannedClients(): BannedClient[] {
    return [...this.#banned.values()].map((client) => ({ ...client }));
  }

  /** Lifts every ban and forgets every window. */
  reset(): void {
    this.#issuedAt.clear();
    this.#banned.clear();
  }
}

/** Client ids are unique per provider only, so the provider is part of the key. */
function key(provider: EmulatedProvider, clientId: string): string {
  return `${provider}\u0000${clientId}`;
}
