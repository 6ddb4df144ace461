import { startEmulator, type Emulator, type EmulatorClient, type EmulatorOptions } from '../../src/apps/emulator/index.js';

/** A clock the test moves by hand, so nothing races the real one. */
export class FakeClock {
  constructor(public ms = Date.UTC(2025, 0, 15, 12, 0, 0)) {}
  readonly now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

/** Basic credentials exactly as Alternative Payments asks: `base64(id:secret)`, nothing encoded first. */
export function basic(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${clientId}:${clientSecret}`, 'utf8').toString('base64')}`;
}

export const FORM = 'application/x-www-form-urlencoded';

/** `POST {base}/oauth/token` with the documented body, or whatever a test overrides. */
export function requestApToken(emulator: Emulator, authorization: string | undefined, init: { body?: string; contentType?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': init.contentType ?? FORM };
  if (authorization !== undefined) headers['authorization'] = authorization;
  return fetch(`${emulator.alternativePaymentsBaseUrl}/oauth/token`, {
    method: 'POST',
    headers,
    body: init.body ?? 'grant_type=client_credentials',
  });
}

/** A fresh Alternative Payments access token, asserting the request succeeds. */
export async function apToken(emulator: Emulator, clientId: string, clientSecret: string): Promise<string> {
  const response = await requestApToken(emulator, basic(clientId, clientSecret));
  if (response.status !== 200) throw new Error(`expected 200, got ${response.status}: ${await response.text()}`);
  const body = (await response.json()) as { access_token: string };
  return body.access_token;
}

export function listCustomers(emulator: Emulator, token: string | undefined, query = ''): Promise<Response> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
  return fetch(`${emulator.alternativePaymentsBaseUrl}/customers${query}`, { headers });
}

export const AUTOPAY_AUDIENCE = 'https://api.autopay.io';

/** `POST /autopay-auth/oauth/token` with a JSON body (fields overridable). */
export function requestAutopayToken(
  emulator: Emulator,
  fields: Record<string, unknown>,
  init: { contentType?: string; rawBody?: string } = {},
): Promise<Response> {
  return fetch(emulator.autopayTokenUrl, {
    method: 'POST',
    headers: { 'content-type': init.contentType ?? 'application/json' },
    body: init.rawBody ?? JSON.stringify({ audience: AUTOPAY_AUDIENCE, grant_type: 'client_credentials', ...fields }),
  });
}

/** A fresh Autopay access token, asserting the request succeeds. */
export async function autopayToken(emulator: Emulator, clientId: string, clientSecret: string): Promise<string> {
  const response = await requestAutopayToken(emulator, { client_id: clientId, client_secret: clientSecret });
  if (response.status !== 200) throw new Error(`expected 200, got ${response.status}: ${await response.text()}`);
  const body = (await response.json()) as { access_token: string };
  return body.access_token;
}

export function joinCustomerClub(emulator: Emulator, token: string | undefined, body: unknown = { phone_number: '+4712345678' }): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
  return fetch(`${emulator.autopayApiBaseUrl}/customer_club/v2/join`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Decodes one base64url JWT segment as JSON. */
export function decodeJwtPart(part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/**
 * An emulator on the test's clock with the given clients, the Alternative Payments per-second limit and
 * the ban turned off: most wire tests are about one answer at a time, and the suites that test those
 * knobs turn them on (`extra`).
 */
export function startQuietEmulator(clock: FakeClock, clients: EmulatorClient[], extra: Partial<EmulatorOptions> = {}): Promise<Emulator> {
  return startEmulator({
    now: clock.now,
    clients,
    alternativePaymentsRateLimitPerSecond: 0,
    alternativePaymentsApiRateLimitPerSecond: 0,
    ban: false,
    ...extra,
  });
}
