import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_CLIENTS, startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { apToken, AUTOPAY_AUDIENCE, autopayToken, decodeJwtPart, FakeClock, joinCustomerClub, requestAutopayToken, startQuietEmulator } from './helpers.js';

const CLIENT_ID = 'autopay-test-client';
const SECRET = 'autopay+test/secret=%:';
const ZONE_CLIENT_ID = 'autopay-zone-client';
const ZONE_SECRET = 'zone-secret';
const AP_ID = 'ap-test-client';
const AP_SECRET = 'ap-test-secret';

describe('Autopay token endpoint', () => {
  const clock = new FakeClock();
  let emulator: Emulator;

  beforeAll(async () => {
    emulator = await startQuietEmulator(
      clock,
      [
        { provider: 'autopay', clientId: CLIENT_ID, clientSecret: SECRET },
        { provider: 'autopay', clientId: ZONE_CLIENT_ID, clientSecret: ZONE_SECRET, scope: 'zone_status', audience: 'https://zones.example' },
        { provider: 'alternative-payments', clientId: AP_ID, clientSecret: AP_SECRET },
      ],
      { alternativePaymentsRateLimitPerSecond: 5 },
    );
  });
  afterAll(() => emulator.close());

  it('issues a JWT-shaped token with Auth0 claims, scope, 86400 s, token_type Bearer, no-store', async () => {
    const response = await requestAutopayToken(emulator, { client_id: CLIENT_ID, client_secret: SECRET });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type']);
    expect(body['scope']).toBe('customer_club');
    expect(body['expires_in']).toBe(86400);
    expect(body['token_type']).toBe('Bearer');

    const parts = String(body['access_token']).split('.');
    expect(parts).toHaveLength(3);
    for (const part of parts) expect(part).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeJwtPart(parts[0] ?? '')).toMatchObject({ alg: 'HS256', typ: 'JWT' });
    const issuedAt = Math.floor(clock.ms / 1000);
    expect(decodeJwtPart(parts[1] ?? '')).toMatchObject({
      iss: `${emulator.url}/autopay-auth/`,
      sub: `${CLIENT_ID}@clients`,
      aud: AUTOPAY_AUDIENCE,
      iat: issuedAt,
      exp: issuedAt + 86400,
      scope: 'customer_club',
      gty: 'client-credentials',
    });
  });

  it("issues the client's own scope and audience", async () => {
    const response = await requestAutopayToken(emulator, {
      client_id: ZONE_CLIENT_ID,
      client_secret: ZONE_SECRET,
      audience: 'https://zones.example',
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { access_token: string; scope: string };
    expect(body.scope).toBe('zone_status');
    expect(decodeJwtPart(body.access_token.split('.')[1] ?? '')).toMatchObject({ aud: 'https://zones.example', scope: 'zone_status' });
  });

  it('issues a different token each time, even within one second', async () => {
    const first = await autopayToken(emulator, CLIENT_ID, SECRET);
    const second = await autopayToken(emulator, CLIENT_ID, SECRET);
    expect(first).not.toBe(second);
  });

  it.each([
    ['a wrong secret', { client_id: CLIENT_ID, client_secret: 'wrong' }],
    ['an unknown client', { client_id: 'nobody', client_secret: SECRET }],
    ['an Alternative Payments client', { client_id: AP_ID, client_secret: AP_SECRET }],
  ])('answers 401 access_denied for %s', async (_case, fields) => {
    const response = await requestAutopayToken(emulator, fields);
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: 'access_denied', error_description: 'Unauthorized' });
  });

  it('answers 403 unauthorized_client for another grant type', async () => {
    const response = await requestAutopayToken(emulator, { client_id: CLIENT_ID, client_secret: SECRET, grant_type: 'password' });
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({
      error: 'unauthorized_client',
      error_description: "Grant type 'password' not allowed for the client.",
    });
  });

  it("answers 403 access_denied for an audience that is not the client's", async () => {
    const response = await requestAutopayToken(emulator, { client_id: CLIENT_ID, client_secret: SECRET, audience: 'https://evil.example' });
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({
      error: 'access_denied',
      error_description: 'Service not enabled within domain: https://evil.example',
    });
  });

  it.each([
    ['malformed JSON', { rawBody: '{"client_id":' }, 'Malformed JSON body'],
    ['a JSON array', { rawBody: '[]' }, 'Malformed JSON body'],
    ['a form body', { contentType: 'application/x-www-form-urlencoded', rawBody: 'grant_type=client_credentials' }, 'Content-Type'],
  ])('answers 400 invalid_request for %s', async (_case, init, description) => {
    const response = await requestAutopayToken(emulator, {}, init);
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: string; error_description: string };
    expect(body.error).toBe('invalid_request');
    expect(body.error_description).toContain(description);
  });

  it('answers 400 invalid_request naming the missing fields, never their values', async () => {
    const response = await requestAutopayToken(emulator, {}, { rawBody: JSON.stringify({ client_secret: SECRET, grant_type: 'client_credentials' }) });
    expect(response.status).toBe(400);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ error: 'invalid_request', error_description: 'Missing or non-string parameter(s): client_id, audience' });
    expect(text).not.toContain(SECRET);
  });

  it('answers 405 to GET', async () => {
    const response = await fetch(emulator.autopayTokenUrl);
    expect(response.status).toBe(405);
    expect(await response.json()).toEqual({ error: 'method_not_allowed', error_description: 'Use POST' });
  });
});

describe('Autopay API: POST /customer_club/v2/join', () => {
  const clock = new FakeClock();
  let emulator: Emulator;
  let token: string;

  beforeAll(async () => {
    emulator = await startQuietEmulator(
      clock,
      [
        { provider: 'autopay', clientId: CLIENT_ID, clientSecret: SECRET },
        { provider: 'autopay', clientId: ZONE_CLIENT_ID, clientSecret: ZONE_SECRET, scope: 'zone_status' },
        { provider: 'alternative-payments', clientId: AP_ID, clientSecret: AP_SECRET },
      ],
      { alternativePaymentsRateLimitPerSecond: 5 },
    );
    token = await autopayToken(emulator, CLIENT_ID, SECRET);
  });
  afterAll(() => emulator.close());

  it('joins a member and answers the same member id for the same person', async () => {
    const response = await joinCustomerClub(emulator, token, { phone_number: '+4712345678', first_name: 'Kari' });
    expect(response.status).toBe(200);
    const member = (await response.json()) as Record<string, unknown>;
    expect(member).toMatchObject({ status: 'joined', phone_number: '+4712345678', first_name: 'Kari', joined_at: new Date(clock.ms).toISOString() });
    expect(member['member_id']).toMatch(/^mem_[0-9a-f]{20}$/);
    const again = (await (await joinCustomerClub(emulator, token, { phone_number: '+4712345678' })).json()) as Record<string, unknown>;
    expect(again['member_id']).toBe(member['member_id']);
  });

  it('answers 401 authentication_error with no token', async () => {
    const response = await joinCustomerClub(emulator, undefined);
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error_id: 'authentication_error', message: 'No access token present in header!' });
  });

  it('answers 401 authentication_error to an unknown token and to an Alternative Payments token', async () => {
    const apAccessToken = await apToken(emulator, AP_ID, AP_SECRET);
    for (const presented of ['eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl', apAccessToken]) {
      const response = await joinCustomerClub(emulator, presented);
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ error_id: 'authentication_error', message: 'Invalid access token!' });
    }
  });

  it('answers 401 once the token expires on the emulator clock', async () => {
    const fresh = await autopayToken(emulator, CLIENT_ID, SECRET);
    clock.advance(86399);
    expect((await joinCustomerClub(emulator, fresh)).status).toBe(200);
    clock.advance(1);
    const response = await joinCustomerClub(emulator, fresh);
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error_id: 'authentication_error', message: 'Access token has expired!' });
    token = await autopayToken(emulator, CLIENT_ID, SECRET);
  });

  it('answers 403 insufficient_scope to a token without customer_club', async () => {
    const zoneToken = await autopayToken(emulator, ZONE_CLIENT_ID, ZONE_SECRET);
    const response = await joinCustomerClub(emulator, zoneToken);
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error_id: string }).error_id).toBe('insufficient_scope');
  });

  it.each([
    ['an empty object', {}, 'phone_number or email is required'],
    ['a bad phone number', { phone_number: 'call me' }, 'phone_number'],
    ['a bad e-mail', { email: 'not-an-address' }, 'email'],
    ['malformed JSON', '{"phone_number":', 'JSON object'],
  ])('answers 400 validation_error for %s', async (_case, body, message) => {
    const response = await joinCustomerClub(emulator, token, body);
    expect(response.status).toBe(400);
    const answer = (await response.json()) as { error_id: string; message: string };
    expect(answer.error_id).toBe('validation_error');
    expect(answer.message).toContain(message);
  });

  it('uses the sample client when no clients are given', async () => {
    const sample = await startEmulator({ now: clock.now });
    try {
      const client = SAMPLE_CLIENTS.find((candidate) => candidate.provider === 'autopay');
      expect(client).toMatchObject({ clientId: 'autopay-sample-client', scope: 'customer_club' });
      const sampleToken = await autopayToken(sample, client?.clientId ?? '', client?.clientSecret ?? '');
      expect((await joinCustomerClub(sample, sampleToken, { email: 'kari@example.com' })).status).toBe(200);
    } finally {
      await sample.close();
    }
  });
});
