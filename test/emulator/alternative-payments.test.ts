import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_CLIENTS, startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { apToken, autopayToken, basic, FakeClock, listCustomers, requestApToken, startQuietEmulator } from './helpers.js';

const CLIENT_ID = 'ap-test-client';
// Every character a form-urlencoding client would mangle, and a ':' that must not split the secret.
const SECRET = 'se+cr/et=%3A:with:colons%20';
const AUTOPAY_ID = 'autopay-test-client';
const AUTOPAY_SECRET = 'autopay-test-secret';

describe('Alternative Payments token endpoint', () => {
  const clock = new FakeClock();
  let emulator: Emulator;

  beforeAll(async () => {
    emulator = await startQuietEmulator(clock, [
      { provider: 'alternative-payments', clientId: CLIENT_ID, clientSecret: SECRET },
      { provider: 'autopay', clientId: AUTOPAY_ID, clientSecret: AUTOPAY_SECRET },
    ]);
  });
  afterAll(() => emulator.close());

  it('issues an opaque 56-hex token, lowercase bearer, 3600 s, not cacheable', async () => {
    const response = await requestApToken(emulator, basic(CLIENT_ID, SECRET));
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'token_type']);
    expect(body['access_token']).toMatch(/^[0-9a-f]{56}$/);
    expect(body['expires_in']).toBe(3600);
    expect(body['token_type']).toBe('bearer');
  });

  it('takes the Basic parts verbatim: a form-urlencoded secret is refused', async () => {
    const encoded = `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(SECRET)}`).toString('base64')}`;
    const response = await requestApToken(emulator, encoded);
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ code: 'forbidden', message: 'Invalid credentials' });
  });

  it('accepts a lower-case "basic" scheme and a charset parameter on the content type', async () => {
    const header = basic(CLIENT_ID, SECRET).replace('Basic', 'basic');
    const response = await requestApToken(emulator, header, { contentType: 'application/x-www-form-urlencoded; charset=utf-8' });
    expect(response.status).toBe(200);
  });

  it.each([
    ['a wrong secret', basic(CLIENT_ID, 'nope'), 'Invalid credentials'],
    ['an unknown client', basic('who', SECRET), 'Invalid credentials'],
    ['an Autopay client', basic(AUTOPAY_ID, AUTOPAY_SECRET), 'Invalid credentials'],
    ['a missing header', undefined, 'Missing Basic authorization header'],
    ['a non-Basic scheme', `Bearer ${'a'.repeat(20)}`, 'Malformed Basic authorization header'],
    ['invalid base64', 'Basic !!!notbase64', 'Malformed Basic authorization header'],
    ['base64 without a colon', `Basic ${Buffer.from('nocolon').toString('base64')}`, 'Malformed Basic authorization header'],
    // base64url drops the padding and uses '-' and '_': both make the header malformed.
    ['unpadded base64url', `Basic ${Buffer.from(`${CLIENT_ID}:x`).toString('base64url')}`, 'Malformed Basic authorization header'],
    ['base64url alphabet', `Basic ${Buffer.from(`${CLIENT_ID}:???`).toString('base64url')}`, 'Malformed Basic authorization header'],
  ])('answers 403 with a JSON object of strings for %s', async (_case, header, message) => {
    const response = await requestApToken(emulator, header);
    expect(response.status).toBe(403);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toEqual({ code: 'forbidden', message });
    expect(Object.values(body).every((value) => typeof value === 'string')).toBe(true);
  });

  it('never accepts credentials in the body', async () => {
    const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: SECRET }).toString();
    const withoutHeader = await requestApToken(emulator, undefined, { body });
    expect(withoutHeader.status).toBe(400);
    const answer = (await withoutHeader.json()) as { code: string; message: string };
    expect(answer.code).toBe('invalid_request');
    expect(answer.message).toContain('client_id, client_secret');
    expect(answer.message).not.toContain(SECRET);
    const withHeader = await requestApToken(emulator, basic(CLIENT_ID, SECRET), { body });
    expect(withHeader.status).toBe(400);
  });

  it.each([
    ['a JSON content type', { contentType: 'application/json', body: '{"grant_type":"client_credentials"}' }],
    ['no grant_type', { body: '' }],
    ['another grant type', { body: 'grant_type=password' }],
    ['grant_type twice', { body: 'grant_type=client_credentials&grant_type=client_credentials' }],
    ['an extra parameter', { body: 'grant_type=client_credentials&scope=all' }],
  ])('answers 400 invalid_request for %s', async (_case, init) => {
    const response = await requestApToken(emulator, basic(CLIENT_ID, SECRET), init);
    expect(response.status).toBe(400);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body['code']).toBe('invalid_request');
    expect(typeof body['message']).toBe('string');
  });

  it('answers 405 to other methods', async () => {
    const response = await fetch(`${emulator.alternativePaymentsBaseUrl}/oauth/token`);
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(await response.json()).toEqual({ code: 'method_not_allowed', message: 'Use POST' });
  });

  it('registers the sample client when no clients are given', async () => {
    const sample = await startEmulator({ now: clock.now, alternativePaymentsApiRateLimitPerSecond: 0 });
    try {
      const client = SAMPLE_CLIENTS.find((candidate) => candidate.provider === 'alternative-payments');
      expect(client?.clientId).toBe('ap-sample-client');
      expect(client?.clientSecret).toMatch(/^ap-sample-secret-/);
      const token = await apToken(sample, client?.clientId ?? '', client?.clientSecret ?? '');
      expect((await listCustomers(sample, token)).status).toBe(200);
    } finally {
      await sample.close();
    }
  });
});

describe('Alternative Payments API: GET /customers', () => {
  const clock = new FakeClock();
  let emulator: Emulator;
  let token: string;

  beforeAll(async () => {
    emulator = await startQuietEmulator(clock, [
      { provider: 'alternative-payments', clientId: CLIENT_ID, clientSecret: SECRET },
      { provider: 'autopay', clientId: AUTOPAY_ID, clientSecret: AUTOPAY_SECRET },
    ]);
    token = await apToken(emulator, CLIENT_ID, SECRET);
  });
  afterAll(() => emulator.close());

  it('serves the first page of 100 by default', async () => {
    const response = await listCustomers(emulator, token);
    expect(response.status).toBe(200);
    const page = (await response.json()) as {
      data: Array<Record<string, unknown>>;
      start_cursor: string;
      end_cursor: string;
      has_next_page: boolean;
      has_previous_page: boolean;
    };
    expect(page.data).toHaveLength(100);
    expect(Object.keys(page.data[0] ?? {}).sort()).toEqual(['created_at', 'email', 'id', 'name']);
    expect(page.start_cursor).toBe(page.data[0]?.['id']);
    expect(page.end_cursor).toBe(page.data[99]?.['id']);
    expect(page.has_next_page).toBe(true);
    expect(page.has_previous_page).toBe(false);
  });

  it('walks all 250 customers forward with after, and back with before', async () => {
    const seen: string[] = [];
    let query = '?limit=100';
    const pages: Array<{
      data: Array<{ id: string }>;
      end_cursor: string | null;
      start_cursor: string | null;
      has_next_page: boolean;
      has_previous_page: boolean;
    }> = [];
    for (;;) {
      const page = (await (await listCustomers(emulator, token, query)).json()) as (typeof pages)[number];
      pages.push(page);
      seen.push(...page.data.map((customer) => customer.id));
      if (!page.has_next_page) break;
      query = `?limit=100&after=${page.end_cursor}`;
    }
    expect(pages.map((page) => page.data.length)).toEqual([100, 100, 50]);
    expect(new Set(seen).size).toBe(250);
    expect(pages[2]?.has_previous_page).toBe(true);

    const back = (await (await listCustomers(emulator, token, `?limit=100&before=${pages[2]?.start_cursor}`)).json()) as (typeof pages)[number];
    expect(back.data.map((customer) => customer.id)).toEqual(pages[1]?.data.map((customer) => customer.id));
    expect(back.has_next_page).toBe(true);
    expect(back.has_previous_page).toBe(true);
  });

  it('is deterministic: a second emulator serves the same customers', async () => {
    const other = await startEmulator({ now: clock.now, alternativePaymentsApiRateLimitPerSecond: 0 });
    try {
      const otherToken = await apToken(other, 'ap-sample-client', SAMPLE_CLIENTS[0]?.clientSecret ?? '');
      const mine = await (await listCustomers(emulator, token, '?limit=5')).json();
      const theirs = await (await listCustomers(other, otherToken, '?limit=5')).json();
      expect(theirs).toEqual(mine);
    } finally {
      await other.close();
    }
  });

  it.each([['?limit=0'], ['?limit=101'], ['?limit=abc'], ['?after=cus_nope'], ['?after=x&before=y']])('answers 400 invalid_request for %s', async (query) => {
    const response = await listCustomers(emulator, token, query);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { code: string }).code).toBe('invalid_request');
  });

  it('answers 401 without a token, with a plain Bearer challenge', async () => {
    const response = await listCustomers(emulator, undefined);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    expect(await response.json()).toEqual({ code: 'unauthorized', message: 'Missing bearer token' });
  });

  it('answers 401 invalid_token to an unknown token and to an Autopay token', async () => {
    const autopay = await autopayToken(emulator, AUTOPAY_ID, AUTOPAY_SECRET);
    for (const presented of ['f'.repeat(56), autopay]) {
      const response = await listCustomers(emulator, presented);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      expect(await response.json()).toEqual({ code: 'unauthorized', message: 'Invalid access token' });
    }
  });

  it('answers 401 once the token expires on the emulator clock, and not a millisecond before', async () => {
    const fresh = await apToken(emulator, CLIENT_ID, SECRET);
    clock.ms += 3600 * 1000 - 1;
    expect((await listCustomers(emulator, fresh)).status).toBe(200);
    clock.ms += 1;
    const response = await listCustomers(emulator, fresh);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(await response.json()).toEqual({ code: 'unauthorized', message: 'Access token expired; request a new one' });
    token = await apToken(emulator, CLIENT_ID, SECRET);
  });

  it('honours a configured token lifetime', async () => {
    emulator.configure({ tokenLifetimeSeconds: { alternativePayments: 60 } });
    try {
      const response = await requestApToken(emulator, basic(CLIENT_ID, SECRET));
      const body = (await response.json()) as { access_token: string; expires_in: number };
      expect(body.expires_in).toBe(60);
      clock.advance(60);
      expect((await listCustomers(emulator, body.access_token)).status).toBe(401);
    } finally {
      emulator.configure({ tokenLifetimeSeconds: { alternativePayments: 3600 } });
      token = await apToken(emulator, CLIENT_ID, SECRET);
    }
  });
});
