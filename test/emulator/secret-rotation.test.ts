/**
 * Issue 22: the emulator rotates a client's secret — at once, or with a grace period in which both
 * work — in code (`emulator.rotateSecret`) and over HTTP (`POST /_emulator/rotate-secret`). Issued
 * tokens stay valid. On a fake clock: the grace period ends when the test says.
 */
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Emulator } from '../../src/apps/emulator/index.js';
import { everythingAbout } from '../helpers/leak-scan.js';
import { apToken, autopayToken, basic, FakeClock, listCustomers, requestApToken, requestAutopayToken, startQuietEmulator } from './helpers.js';

const AP_ID = 'ap-rotating';
const AUTOPAY_ID = 'autopay-rotating';
const OLD = 'old-secret+/=%:1';
const NEW = 'new-secret+/=%:2';
const clock = new FakeClock();
let emulator: Emulator;

beforeAll(async () => {
  emulator = await startQuietEmulator(clock, [
    { provider: 'alternative-payments', clientId: AP_ID, clientSecret: OLD },
    { provider: 'autopay', clientId: AUTOPAY_ID, clientSecret: OLD },
  ]);
});
beforeEach(() => {
  emulator.rotateSecret({ clientId: AP_ID, clientSecret: OLD });
  emulator.rotateSecret({ clientId: AUTOPAY_ID, clientSecret: OLD });
  emulator.reset();
});
afterAll(() => emulator.close());

it('without grace: the old secret is refused at once, the new one works, issued tokens stay valid', async () => {
  const before = await apToken(emulator, AP_ID, OLD);
  emulator.rotateSecret({ clientId: AP_ID, clientSecret: NEW });
  expect((await requestApToken(emulator, basic(AP_ID, OLD))).status).toBe(403);
  await expect(apToken(emulator, AP_ID, NEW)).resolves.toBeTruthy();
  expect((await listCustomers(emulator, before)).status).toBe(200);
  expect(emulator.stats().providers['alternative-payments'].clients[AP_ID]!.tokenRequestsRejected.invalid_credentials).toBe(1);
});

it('with grace: both secrets work until it ends, then only the new one', async () => {
  emulator.rotateSecret({ clientId: AUTOPAY_ID, clientSecret: NEW, graceMs: 60_000 });
  await expect(autopayToken(emulator, AUTOPAY_ID, OLD)).resolves.toBeTruthy();
  await expect(autopayToken(emulator, AUTOPAY_ID, NEW)).resolves.toBeTruthy();
  clock.advance(61);
  expect((await requestAutopayToken(emulator, { client_id: AUTOPAY_ID, client_secret: OLD })).status).toBe(401);
  await expect(autopayToken(emulator, AUTOPAY_ID, NEW)).resolves.toBeTruthy();
});

it('over HTTP: POST /_emulator/rotate-secret, validated, and its answers hold no secret', async () => {
  const post = (body: unknown) => fetch(`${emulator.url}/_emulator/rotate-secret`, { method: 'POST', body: JSON.stringify(body) });
  const ok = await post({ clientId: AP_ID, clientSecret: NEW, graceMs: 0 });
  expect(ok.status).toBe(200);
  expect(await ok.json()).toEqual({ ok: true });
  expect((await requestApToken(emulator, basic(AP_ID, OLD))).status).toBe(403);
  await expect(apToken(emulator, AP_ID, NEW)).resolves.toBeTruthy();

  for (const [body, status] of [
    [{ clientSecret: NEW }, 400],
    [{ clientId: AP_ID }, 400],
    [{ clientId: AP_ID, clientSecret: NEW, graceMs: -1 }, 400],
    [{ clientId: AP_ID, clientSecret: NEW, provider: 'other' }, 400],
    [{ clientId: 'nobody', clientSecret: NEW }, 404],
  ] as const) {
    const response = await post(body);
    expect(response.status).toBe(status);
    expect(await response.text()).not.toContain(NEW);
  }
  expect(everythingAbout(emulator)).not.toContain(NEW);
});
