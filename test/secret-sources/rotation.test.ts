/**
 * Issue 22, acceptance: a secret rotated at the provider with no grace period, the new value reaching
 * the secret function one second later, under continuous load with tokens of 10 s: no `getToken` call
 * fails, at most one token request is refused, and the next token is issued with the new secret.
 *
 * Real time (the emulator's tokens really expire), with generous bounds: the rotation is timed from
 * the emulator's own count of issued tokens to land just before the next refresh, the worst moment.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { alternativePayments, createTokenManager } from '../../src/index.js';
import { SAMPLE_CLIENTS, startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { apCounts, rotateBeforeNextRefresh } from './rotation-helpers.js';

const [AP_CLIENT] = SAMPLE_CLIENTS;
const NEW_SECRET = 'Rotated+Under/Load=%-22-c4d2';

let emulator: Emulator;
beforeAll(async () => {
  emulator = await startEmulator({ tokenLifetimeSeconds: { alternativePayments: 10 } });
});
afterAll(async () => {
  await emulator.close();
});

it('a secret function: a rotation under load costs no failed call and at most one refused request', { timeout: 60_000 }, async () => {
  let secret: string = AP_CLIENT.clientSecret;
  const warnings: string[] = [];
  const tokens = createTokenManager({
    providers: { ap: alternativePayments({ clientId: AP_CLIENT.clientId, clientSecret: () => secret, baseUrl: emulator.alternativePaymentsBaseUrl }) },
    logger: { debug() {}, info() {}, warn: (_o, message) => warnings.push(message), error: (_o, message) => warnings.push(message) },
  });
  const failures: unknown[] = [];
  let calls = 0;
  let running = true;
  const callers = Array.from({ length: 4 }, async () => {
    while (running) {
      await tokens.getToken('ap').then(
        () => calls++,
        (error: unknown) => failures.push(error),
      );
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  });

  const rotation = await rotateBeforeNextRefresh(emulator, AP_CLIENT.clientId, NEW_SECRET, () => {
    secret = NEW_SECRET;
  });
  // Past the old token's expiry and a refresh of the new one.
  await new Promise((resolve) => setTimeout(resolve, 12_000));
  running = false;
  await Promise.all(callers);
  const counts = apCounts(emulator, AP_CLIENT.clientId);
  console.info(
    `[rotation, one process, secret function] ${calls} getToken calls, ${failures.length} failed; refused token requests: ${counts.refused}; tokens issued after the rotation: ${counts.tokensIssued - rotation.issuedBefore}; warnings: ${JSON.stringify(warnings)}`,
  );
  expect(failures).toEqual([]);
  expect(counts.refused).toBeLessThanOrEqual(1);
  expect(tokens.stats().failures).toBeLessThanOrEqual(1);
  // Only the new secret works at the emulator since the rotation: every token issued since used it.
  expect(counts.tokensIssued - rotation.issuedBefore).toBeGreaterThanOrEqual(1);
  const response = await tokens.client('ap').get('customers?limit=1', { throwHttpErrors: false, retry: 0 });
  expect(response.status).toBe(200);
  await tokens.close();
});
