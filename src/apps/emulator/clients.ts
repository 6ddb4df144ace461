import { createHash, timingSafeEqual } from 'node:crypto';
import { DEFAULT_AUTOPAY_AUDIENCE, DEFAULT_AUTOPAY_SCOPE, type EmulatorClient, type EmulatedProvider } from './options.js';

/**
 * The clients registered when `startEmulator` is given no `clients`: one per provider.
 * The Alternative Payments secret holds `+ / = % :` on purpose, so a client that form-urlencodes
 * Basic credentials (which that provider does not ask for) fails against the emulator as it would
 * against the real server. A tuple, so `const [apClient, autopayClient] = SAMPLE_CLIENTS` is typed.
 */
export const SAMPLE_CLIENTS: readonly [alternativePayments: Readonly<EmulatorClient>, autopay: Readonly<EmulatorClient>] = Object.freeze([
  Object.freeze({
    provider: 'alternative-payments',
    clientId: 'ap-sample-client',
    clientSecret: 'ap-sample-secret-K7+x/Q=9%z:w',
  }),
  Object.freeze({
    provider: 'autopay',
    clientId: 'autopay-sample-client',
    clientSecret: 'autopay-sample-secret-3b1f9c0e7d2a',
    scope: DEFAULT_AUTOPAY_SCOPE,
  }),
] as const);

/** A registered client as the emulator keeps it: the secret only as a digest. */
export interface RegisteredClient {
  readonly provider: EmulatedProvider;
  readonly clientId: string;
  readonly scope: string;
  readonly audience: string;
  readonly secretDigest: Buffer;
}

/** A secret replaced by a rotation that still works until `until` (the emulator's clock, epoch ms). */
interface GraceSecret {
  readonly digest: Buffer;
  readonly until: number;
}

/** What `Emulator.rotateSecret` (and `POST /_emulator/rotate-secret`) takes. */
export interface SecretRotation {
  /** The client whose secret changes. */
  readonly clientId: string;
  /** Which provider's client, when the same id is registered at both. */
  readonly provider?: EmulatedProvider | undefined;
  /** The new secret. */
  readonly clientSecret: string;
  /** How long the old secret keeps working, ms (default 0: refused at once). */
  readonly graceMs?: number | undefined;
}

/** The clients the emulator accepts, looked up by provider and client id. */
export class ClientRegistry {
  readonly #clients = new Map<string, RegisteredClient>();
  /** Old secrets within their grace period, per client: a rotation with `graceMs` keeps one working. */
  readonly #grace = new Map<string, GraceSecret>();
  readonly #now: () => number;

  constructor(clients: readonly EmulatorClient[], now: () => number = Date.now) {
    this.#now = now;
    for (const client of clients) {
      this.#clients.set(registryKey(client.provider, client.clientId), {
        provider: client.provider,
        clientId: client.clientId,
        scope: client.scope ?? DEFAULT_AUTOPAY_SCOPE,
        audience: client.audience ?? DEFAULT_AUTOPAY_AUDIENCE,
        secretDigest: digest(client.clientSecret),
      });
    }
  }

  /** The registered client with this id, without checking any secret. */
  find(provider: EmulatedProvider, clientId: string | undefined): RegisteredClient | undefined {
    return clientId === undefined ? undefined : this.#clients.get(registryKey(provider, clientId));
  }

  /**
   * The client if `clientId` and `clientSecret` match a registered one (its current secret, or the one
   * before it within a rotation's grace period), compared in constant time.
   */
  authenticate(provider: EmulatedProvider, clientId: string, clientSecret: string): RegisteredClient | undefined {
    const client = this.find(provider, clientId);
    if (client === undefined) return undefined;
    const presented = digest(clientSecret);
    if (timingSafeEqual(client.secretDigest, presented)) return client;
    const grace = this.#grace.get(registryKey(provider, clientId));
    return grace !== undefined && this.#now() < grace.until && timingSafeEqual(grace.digest, presented) ? client : undefined;
  }

  /**
   * Gives a client a new secret: the old one is refused at once, or after `graceMs`. Tokens already
   * issued stay valid (as at the providers: a rotated secret does not revoke its tokens; use
   * `revokeTokens` for that).
   * @throws Error when no such client is registered (the message names the id, never a secret).
   */
  rotateSecret(rotation: SecretRotation): void {
    const candidates = (rotation.provider === undefined ? (['alternative-payments', 'autopay'] as const) : [rotation.provider])
      .map((provider) => this.find(provider, rotation.clientId))
      .filter((client): client is RegisteredClient => client !== undefined);
    if (candidates.length === 0) throw new Error(`No client ${JSON.stringify(rotation.clientId)} is registered`);
    if (candidates.length > 1) throw new Error(`Client ${JSON.stringify(rotation.clientId)} is registered at both providers; say which (provider)`);
    const client = candidates[0]!;
    const key = registryKey(client.provider, client.clientId);
    const graceMs = rotation.graceMs ?? 0;
    if (graceMs > 0) this.#grace.set(key, { digest: client.secretDigest, until: this.#now() + graceMs });
    else this.#grace.delete(key);
    this.#clients.set(key, { ...client, secretDigest: digest(rotation.clientSecret) });
  }
}

function registryKey(provider: EmulatedProvider, clientId: string): string {
  return `${provider}\u0000${clientId}`;
}

function digest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}
