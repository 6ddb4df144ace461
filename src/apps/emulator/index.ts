/**
 * `tokenbroker/emulator`: an offline imitation of the Alternative Payments and Autopay token servers
 * and APIs, on loopback, for tests, demos and integration tests of code that uses tokenbroker.
 *
 * @packageDocumentation
 */
import { resolveEmulatorOptions, type EmulatorOptions, type KnobsPatch, type Knobs } from './options.js';
import { ALTERNATIVE_PAYMENTS_PREFIX, AUTOPAY_API_PREFIX, AUTOPAY_AUTH_PREFIX, listen, shutdown } from './server.js';
import { EmulatorState } from './state.js';
import type { EmulatorStats } from './stats.js';
import type { SecretRotation } from './clients.js';

export { SAMPLE_CLIENTS, type SecretRotation } from './clients.js';
export { DEFAULT_KNOBS } from './options.js';
export type { BanPolicy, EmulatorClient, EmulatorOptions, Forced429, Knobs, KnobsPatch, EmulatedProvider, TokenLifetimes } from './options.js';
export type { ApiOutcome, BannedClient, EmulatorStats, EmulatedProviderStats, RejectionReason, RequestCounters } from './stats.js';

/** A running emulator. Call `close()` when done so the process can exit. */
export interface Emulator {
  /** Base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /**
   * Alternative Payments base URL, `${url}/alternative-payments`: pass it as the provider's
   * `baseUrl`. Token at `${base}/oauth/token`, API at `${base}/customers`.
   */
  readonly alternativePaymentsBaseUrl: string;
  /** Autopay token URL, `${url}/autopay-auth/oauth/token`. */
  readonly autopayTokenUrl: string;
  /** Autopay API base URL, `${url}/autopay`: the join call is `${base}/customer_club/v2/join`. */
  readonly autopayApiBaseUrl: string;
  /** A snapshot of the counters: a plain JSON-safe object, safe to keep or change. */
  stats(): EmulatorStats;
  /** Revokes every token issued so far (to `clientId`, of either provider, or to everyone): they now get 401 on the API. */
  revokeTokens(clientId?: string): void;
  /**
   * Clears bans, counters, rate-limit windows, pending forced 429s and revoked tokens (which stay
   * refused). Knobs otherwise keep their values; unrevoked tokens stay valid.
   */
  reset(): void;
  /**
   * Gives a client a new secret (`POST /_emulator/rotate-secret` over HTTP): the old one is refused at
   * once, or after `graceMs`, during which both work. Issued tokens stay valid.
   * @throws Error when no such client is registered.
   */
  rotateSecret(rotation: SecretRotation): void;
  /** Changes knobs at run time; validated like the options (throws, changing nothing, on a bad patch). */
  configure(patch: KnobsPatch): void;
  /** The knobs in force now (a copy). */
  knobs(): Knobs;
  /** Stops the server and closes keep-alive sockets. Safe to call more than once. */
  close(): Promise<void>;
}

/**
 * Starts an emulator on loopback. Without `clients` it accepts the `SAMPLE_CLIENTS`.
 * Rejects with an Error naming every bad option (never quoting a secret).
 *
 * @example
 * const emulator = await startEmulator({ now: () => clock });
 * // … point the providers at emulator.alternativePaymentsBaseUrl / emulator.autopayTokenUrl …
 * await emulator.close();
 */
export async function startEmulator(options?: EmulatorOptions): Promise<Emulator> {
  const resolved = resolveEmulatorOptions(options);
  const state = new EmulatorState(resolved);
  const { server, url } = await listen(state, resolved.host, resolved.port);
  state.url = url;
  let closed: Promise<void> | undefined;

  return {
    url,
    alternativePaymentsBaseUrl: `${url}${ALTERNATIVE_PAYMENTS_PREFIX}`,
    autopayTokenUrl: `${url}${AUTOPAY_AUTH_PREFIX}/oauth/token`,
    autopayApiBaseUrl: `${url}${AUTOPAY_API_PREFIX}`,
    stats: () => state.stats(),
    revokeTokens: (clientId?: string) => state.revokeTokens(clientId),
    reset: () => state.reset(),
    configure: (patch: KnobsPatch) => state.configure(patch),
    rotateSecret: (rotation: SecretRotation) => state.clients.rotateSecret(rotation),
    knobs: () => structuredClone(state.knobs),
    close: () => {
      closed ??= (async () => {
        state.closing.abort();
        await shutdown(server);
      })();
      return closed;
    },
  };
}
