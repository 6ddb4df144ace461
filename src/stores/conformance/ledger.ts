/**
 * The issuance ledger's rolling window: reservations, release, confirmation and expiry. The tests run
 * on the real clock (`Date.now()` at each call): a shared ledger may count by its server's clock
 * instead of the `now` it is given (the Redis one does), so time is not simulated.
 */
import assert from 'node:assert/strict';
import type { LedgerDecision, SharedTokenStore } from '../types.js';
import { sleep, type Section, type TokenSurface } from './harness.js';

function refusal(decision: LedgerDecision): number {
  assert.equal(decision.allowed, false, 'the ledger allowed a token past its limit');
  return (decision as { retryAfterMs: number }).retryAfterMs;
}

function reservation(decision: LedgerDecision): string {
  assert.equal(decision.allowed, true, 'the ledger refused a token within its limit');
  return (decision as { reservation: string }).reservation;
}

/** The ledger tests every store passes. */
export const ledgerSection: Section<TokenSurface> = (test) => {
  test('ledger: allows up to the limit in the window, then refuses with the wait until the oldest leaves', async ({ open }) => {
    const { ledger } = await open();
    const window = 60_000;
    const first = Date.now();
    reservation(await ledger.reserve('cred', Date.now(), 2, window));
    await sleep(200);
    reservation(await ledger.reserve('cred', Date.now(), 2, window));
    const retryAfterMs = refusal(await ledger.reserve('cred', Date.now(), 2, window));
    // The oldest was counted at about `first`: it leaves the window about `window` after it.
    assert.ok(retryAfterMs <= window - 150, `retryAfterMs ${retryAfterMs} counts from the newest entry, not the oldest`);
    assert.ok(retryAfterMs > window - (Date.now() - first) - 1_000, `retryAfterMs ${retryAfterMs} is too short`);
    reservation(await ledger.reserve('other', Date.now(), 2, window)); // another credential, its own budget
  });

  test('ledger: a released reservation gives its room back; releasing an unknown one is harmless', async ({ open }) => {
    const { ledger } = await open();
    const first = reservation(await ledger.reserve('cred', Date.now(), 1, 60_000));
    refusal(await ledger.reserve('cred', Date.now(), 1, 60_000));
    await ledger.release('cred', 'not-a-reservation');
    refusal(await ledger.reserve('cred', Date.now(), 1, 60_000));
    await ledger.release('cred', first);
    reservation(await ledger.reserve('cred', Date.now(), 1, 60_000));
  });

  test('ledger: a confirmed reservation counts from its confirmation time', async ({ open }) => {
    const { ledger } = await open();
    if (ledger.confirm === undefined) return; // optional: a ledger without it counts reservations
    const window = 1_500;
    const reservedAt = Date.now();
    const first = reservation(await ledger.reserve('cred', reservedAt, 1, window));
    await sleep(700); // the token arrived 0.7 s after the reservation
    const confirmedAt = Date.now();
    await ledger.confirm('cred', first, confirmedAt);
    // Counted from the reservation, it would leave in at most 800 ms; from the confirmation, ~1 500.
    const retryAfterMs = refusal(await ledger.reserve('cred', Date.now(), 1, window));
    assert.ok(retryAfterMs > window - (Date.now() - confirmedAt) - 150, `retryAfterMs ${retryAfterMs} counts from the reservation`);
    // Past the reservation's window but not the confirmation's: still counted.
    await sleep(Math.max(0, reservedAt + window + 250 - Date.now()));
    refusal(await ledger.reserve('cred', Date.now(), 1, window));
    await sleep(Math.max(0, confirmedAt + window + 100 - Date.now()));
    reservation(await ledger.reserve('cred', Date.now(), 1, window));
  });

  test('ledger: entries older than the window no longer count', async ({ open }) => {
    const { ledger } = await open();
    reservation(await ledger.reserve('cred', Date.now(), 1, 400));
    refusal(await ledger.reserve('cred', Date.now(), 1, 400));
    await sleep(500);
    reservation(await ledger.reserve('cred', Date.now(), 1, 400));
  });
};

/** What only a shared ledger does: stores on one backing count one budget. */
export const sharedLedgerSection: Section<SharedTokenStore> = (test) => {
  test('ledger: two stores on the same backing count one budget', async ({ open }) => {
    const [a, b] = [await open(), await open()];
    reservation(await a.ledger.reserve('cred', Date.now(), 2, 60_000));
    reservation(await b.ledger.reserve('cred', Date.now(), 2, 60_000));
    refusal(await a.ledger.reserve('cred', Date.now(), 2, 60_000));
    refusal(await b.ledger.reserve('cred', Date.now(), 2, 60_000));
  });
};
