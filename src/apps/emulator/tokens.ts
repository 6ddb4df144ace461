import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { RegisteredClient } from './clients.js';
import type { EmulatedProvider } from './options.js';

/** What the emulator remembers about an issued token (never the token itself). */
export interface TokenRecord {
  readonly provider: EmulatedProvider;
  readonly clientId: string;
  readonly scope: string | undefined;
  readonly expiresAt: number;
  revoked: boolean;
}

/** Why a presented token is not accepted. */
export type TokenProblem = 'unknown' | 'expired' | 'revoked' | 'wrong_provider';

/** The verdict on a presented token; `clientId` is known when the token was ours and the provider's. */
export type TokenCheck = { ok: true; record: TokenRecord } | { ok: false; problem: TokenProblem; clientId: string | undefined };

/** A freshly minted token, handed to the client once. */
export interface MintedToken {
  readonly accessToken: string;
  readonly expiresInSeconds: number;
}

// Expired tokens are swept at most this often (emulator clock): tokens only expire as time passes,
// so sweeping on issuance, paced by the clock, keeps the table bounded by the tokens alive at once.
const SWEEP_INTERVAL_MS = 30_000;

/**
 * Issued tokens, keyed by a SHA-256 digest of the token so the table itself holds no usable token.
 * Alternative Payments tokens are opaque hex; Autopay tokens are JWT-shaped, as Auth0 issues them.
 */
export class TokenStore {
  readonly #records = new Map<string, TokenRecord>();
  // Signs the JWT-shaped tokens; it exists only in this process, so nothing can verify them outside.
  readonly #signingKey = randomBytes(32);
  readonly #now: () => number;
  #nextSweepAt = 0;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** An opaque Alternative Payments token: 56 hex characters, as in the provider's example. */
  mintOpaque(client: RegisteredClient, lifetimeSeconds: number): MintedToken {
    const accessToken = randomBytes(28).toString('hex');
    this.#remember(accessToken, client, undefined, lifetimeSeconds);
    return { accessToken, expiresInSeconds: lifetimeSeconds };
  }

  /** A JWT-shaped Autopay token (HS256 over header.payload) carrying Auth0's claims. */
  mintJwt(client: RegisteredClient, lifetimeSeconds: number, issuer: string): MintedToken {
    const issuedAtSeconds = Math.floor(this.#now() / 1000);
    const header = { alg: 'HS256', typ: 'JWT', kid: 'tokenbroker-emulator' };
    const payload = {
      iss: issuer,
      sub: `${client.clientId}@clients`,
      aud: client.audience,
      iat: issuedAtSeconds,
      exp: issuedAtSeconds + lifetimeSeconds,
      scope: client.scope,
      gty: 'client-credentials',
      // Two tokens issued in the same second must still differ.
      jti: randomBytes(12).toString('hex'),
    };
    const signingInput = `${base64UrlJson(header)}.${base64UrlJson(payload)}`;
    const signature = createHmac('sha256', this.#signingKey).update(signingInput).digest('base64url');
    const accessToken = `${signingInput}.${signature}`;
    this.#remember(accessToken, client, client.scope, lifetimeSeconds);
    return { accessToken, expiresInSeconds: lifetimeSeconds };
  }

  /** Whether `accessToken` was issued to a client of `provider` and is still alive. */
  check(accessToken: string, provider: EmulatedProvider): TokenCheck {
    const record = this.#records.get(tokenKey(accessToken));
    if (record === undefined) return { ok: false, problem: 'unknown', clientId: undefined };
    if (record.provider !== provider) return { ok: false, problem: 'wrong_provider', clientId: undefined };
    if (record.revoked) return { ok: false, problem: 'revoked', clientId: record.clientId };
    if (this.#now() >= record.expiresAt) return { ok: false, problem: 'expired', clientId: record.clientId };
    return { ok: true, record };
  }

  /** Revokes every token issued so far, or only those of one client id (of either provider). */
  revoke(clientId?: string): number {
    let revoked = 0;
    for (const record of this.#records.values()) {
      if (!record.revoked && (clientId === undefined || record.clientId === clientId)) {
        record.revoked = true;
        revoked += 1;
      }
    }
    return revoked;
  }

  /** Forgets revoked tokens: they stay refused (unknown), but no longer take memory. */
  forgetRevoked(): void {
    for (const [key, record] of this.#records) if (record.revoked) this.#records.delete(key);
  }

  /** How many tokens are remembered (alive, or expired and not yet swept). */
  get size(): number {
    return this.#records.size;
  }

  #remember(accessToken: string, client: RegisteredClient, scope: string | undefined, lifetimeSeconds: number): void {
    const now = this.#now();
    this.#sweepExpired(now);
    this.#records.set(tokenKey(accessToken), {
      provider: client.provider,
      clientId: client.clientId,
      scope,
      expiresAt: now + lifetimeSeconds * 1000,
      revoked: false,
    });
  }

  #sweepExpired(now: number): void {
    if (now < this.#nextSweepAt) return;
    this.#nextSweepAt = now + SWEEP_INTERVAL_MS;
    for (const [key, record] of this.#records) if (now >= record.expiresAt) this.#records.delete(key);
  }
}

function tokenKey(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'utf8').digest('base64url');
}

function base64UrlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}
