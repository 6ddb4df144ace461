/**
 * Times a secret rotation at the emulator for the worst moment: just before the next refresh of the
 * token in use (tokens of 10 s are refreshed 5 s after they are issued), so the refresh is refused;
 * the new secret reaches its source (`deliver`) one second after the rotation.
 */
import type { Emulator } from '../../src/apps/emulator/index.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The Alternative Payments counters of `clientId`. */
export function apCounts(emulator: Emulator, clientId: string): { tokensIssued: number; refused: number } {
  const counts = emulator.stats().providers['alternative-payments'].clients[clientId];
  return { tokensIssued: counts?.tokensIssued ?? 0, refused: counts?.tokenRequestsRejected.invalid_credentials ?? 0 };
}

/**
 * Waits for the emulator to issue a token to `clientId`, rotates its secret (no grace) 4.6 s later,
 * and calls `deliver` 1 s after that. Resolves once delivered, with the count of tokens issued before the rotation.
 */
export async function rotateBeforeNextRefresh(
  emulator: Emulator,
  clientId: string,
  newSecret: string,
  deliver: () => void | Promise<void>,
): Promise<{ issuedBefore: number }> {
  const initial = apCounts(emulator, clientId).tokensIssued;
  const deadline = Date.now() + 30_000;
  while (apCounts(emulator, clientId).tokensIssued === initial) {
    if (Date.now() > deadline) throw new Error('no token was issued within 30 s');
    await sleep(20);
  }
  await sleep(4_600);
  const issuedBefore = apCounts(emulator, clientId).tokensIssued;
  emulator.rotateSecret({ clientId, clientSecret: newSecret });
  await sleep(1_000);
  await deliver();
  return { issuedBefore };
}
