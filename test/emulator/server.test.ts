import { Agent, request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { autopayToken, basic, FakeClock, FORM, joinCustomerClub } from './helpers.js';

const AP_ID = 'ap-server';
const AP_SECRET = 'ap-server-secret';
const AUTOPAY_ID = 'autopay-server';
const AUTOPAY_SECRET = 'autopay-server-secret';

describe('server', () => {
  const clock = new FakeClock();
  let emulator: Emulator;

  beforeAll(async () => {
    emulator = await startEmulator({
      now: clock.now,
      clients: [
        { provider: 'alternative-payments', clientId: AP_ID, clientSecret: AP_SECRET },
        { provider: 'autopay', clientId: AUTOPAY_ID, clientSecret: AUTOPAY_SECRET },
      ],
    });
  });
  afterAll(() => emulator.close());

  it('publishes the URLs of both providers on loopback', () => {
    expect(emulator.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(emulator.alternativePaymentsBaseUrl).toBe(`${emulator.url}/alternative-payments`);
    expect(emulator.autopayTokenUrl).toBe(`${emulator.url}/autopay-auth/oauth/token`);
    expect(emulator.autopayApiBaseUrl).toBe(`${emulator.url}/autopay`);
  });

  it.each([
    ['/nowhere', { error: 'not_found' }],
    ['/alternative-payments/invoices', { code: 'not_found' }],
    ['/autopay-auth/userinfo', { error: 'not_found' }],
    ['/autopay/payment/v1/connect_parking', { error_id: 'not_found' }],
  ])("answers 404 JSON in the owning provider's dialect for %s", async (path, shape) => {
    const response = await fetch(`${emulator.url}${path}`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toMatchObject(shape);
  });

  it('answers 413 to a body over 64 KiB on every provider route', async () => {
    const big = 'x'.repeat(64 * 1024 + 1);
    const ap = await fetch(`${emulator.alternativePaymentsBaseUrl}/oauth/token`, {
      method: 'POST',
      headers: { authorization: basic(AP_ID, AP_SECRET), 'content-type': FORM },
      body: `grant_type=client_credentials&pad=${big}`,
    });
    expect(ap.status).toBe(413);
    expect(((await ap.json()) as { code: string }).code).toBe('payload_too_large');

    const autopay = await fetch(emulator.autopayTokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: AUTOPAY_ID, pad: big }),
    });
    expect(autopay.status).toBe(413);
    expect(((await autopay.json()) as { error: string }).error).toBe('invalid_request');

    const join = await joinCustomerClub(emulator, await autopayToken(emulator, AUTOPAY_ID, AUTOPAY_SECRET), { email: 'a@b.co', pad: big });
    expect(join.status).toBe(413);
    expect(((await join.json()) as { error_id: string }).error_id).toBe('payload_too_large');

    expect(emulator.stats().providers['alternative-payments'].clients[AP_ID]?.tokenRequestsRejected.bad_request).toBe(1);
  });

  it('accepts a body of exactly 64 KiB', async () => {
    const token = await autopayToken(emulator, AUTOPAY_ID, AUTOPAY_SECRET);
    const base = JSON.stringify({ email: 'a@b.co', pad: '' });
    const body = JSON.stringify({ email: 'a@b.co', pad: 'x'.repeat(64 * 1024 - base.length) });
    expect(Buffer.byteLength(body)).toBe(64 * 1024);
    expect((await joinCustomerClub(emulator, token, body)).status).toBe(200);
  });
});

describe('lifecycle', () => {
  it('close() ends keep-alive connections, is idempotent, and frees the port', async () => {
    const emulator = await startEmulator();
    const port = Number(new URL(emulator.url).port);
    // A keep-alive request leaves an idle socket open; close() must not wait for it to time out.
    await new Promise<void>((resolve, reject) => {
      const request = httpRequest(`${emulator.url}/_emulator/stats`, { agent: new Agent({ keepAlive: true }) }, (response) => {
        response.resume();
        response.on('end', resolve);
      });
      request.on('error', reject);
      request.end();
    });
    await Promise.all([emulator.close(), emulator.close()]);
    await expect(fetch(`${emulator.url}/_emulator/stats`)).rejects.toThrow();
    const again = await startEmulator({ port });
    expect(again.url).toBe(`http://127.0.0.1:${port}`);
    await again.close();
  });

  it('close() does not wait for a request sleeping through latencyMs', async () => {
    const emulator = await startEmulator({ latencyMs: 60_000 });
    const pending = fetch(`${emulator.alternativePaymentsBaseUrl}/oauth/token`, { method: 'POST' }).catch((error: unknown) => error);
    // Give the request time to reach the server and start sleeping.
    while (emulator.stats().providers['alternative-payments'].tokenRequests === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await emulator.close();
    expect(await pending).toBeInstanceOf(Error);
  });

  it('rejects when the port is taken', async () => {
    const first = await startEmulator();
    try {
      await expect(startEmulator({ port: Number(new URL(first.url).port) })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await first.close();
    }
  });
});
