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

/** The clients the emulator accepts, looked up by provider and client id. */
export class ClientRegistry {
  readonly #clients = new Map<string, RegisteredClient>();

  constructor(clients: readonly EmulatorClient[]) {
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

  /** The client if `clientId` and `clientSecret` match a registered one, compared in constant time. */
  authenticate(provider: EmulatedProvider, clientId: string, clientSecret: string): RegisteredClient | undefined {
    const client = this.find(provider, clientId);
    if (client === undefined) return undefined;
    return timingSafeEqual(client.secretDigest, digest(clientSecret)) ? client : undefined;
  }
}

function registryKey(provider: EmulatedProvider, clientId: string): string {
  return `${provider}\u0000${clientId}`;
}

function digest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}
