/**
 * `waitForToken`: how a process that lost the lock race gets the token the holder stores. It must wake
 * when the token is stored (not at its timeout), ignore the token being replaced, give up its wait as
 * soon as the lock goes (released, or expired with a dead holder) so the caller can take over, time
 * out, and honour an abort and close(). The bounds are generous — seconds where a store takes
 * milliseconds — so only a store that waits out its timeout, or never returns, fails them.
 */
import assert from 'node:assert/strict';
import type { Token } from '../../base/token.js';
import type { SharedTokenStore } from '../types.js';
import { sampleToken, since, sleep, within, type Section } from './harness.js';

/** The wait's own timeout: far longer than any prompt answer. */
const WAIT_MS = 10_000;
/** How soon a prompt answer must come: a store that only answers at its timeout misses it by seconds. */
const PROMPT_MS = 4_000;

async function answer(waiting: Promise<Token | undefined>, what: string): Promise<Token | undefined> {
  const outcome = await within(waiting, PROMPT_MS);
  if (outcome.settled === 'pending') assert.fail(`waitForToken did not return within ${PROMPT_MS} ms ${what}`);
  if (outcome.settled === 'rejected') throw outcome.error;
  return outcome.value;
}

/** The wait tests. */
export const waitSection: Section<SharedTokenStore> = (test) => {
  test('waits: wakes with the token another store stores while it holds the lock', async ({ open, signal }) => {
    const [holder, waiter] = [await open(), await open()];
    const owner = (await holder.acquireLock('k', WAIT_MS))!;
    const waiting = waiter.waitForToken('k', WAIT_MS, signal);
    await sleep(300);
    const token = sampleToken();
    await holder.set('k', token, 60_000);
    const got = await answer(waiting, 'after another store stored the token');
    assert.equal(got?.accessToken, token.accessToken, 'the wait did not return the stored token');
    await holder.releaseLock('k', owner);
  });

  test('waits: the token there when the wait began is not the answer; the one stored next is', async ({ open, signal }) => {
    const [holder, waiter] = [await open(), await open()];
    await holder.set('k', sampleToken(), 60_000);
    await holder.acquireLock('k', WAIT_MS);
    const waiting = waiter.waitForToken('k', WAIT_MS, signal);
    assert.equal((await within(waiting, 500)).settled, 'pending', 'the wait returned the token being replaced');
    const fresh = sampleToken();
    await holder.set('k', fresh, 60_000);
    assert.equal((await answer(waiting, 'after the new token was stored'))?.accessToken, fresh.accessToken);
  });

  test('waits: returns when the lock is released, with what is stored (here nothing)', async ({ open, signal }) => {
    const [holder, waiter] = [await open(), await open()];
    const owner = (await holder.acquireLock('k', WAIT_MS))!;
    const waiting = waiter.waitForToken('k', WAIT_MS, signal);
    await sleep(200);
    await holder.releaseLock('k', owner);
    assert.equal(await answer(waiting, 'after the lock was released'), undefined);
  });

  test('waits: returns when the lock expires (its holder died)', async ({ open, signal }) => {
    const [holder, waiter] = [await open(), await open()];
    await holder.acquireLock('k', 300);
    assert.equal(await answer(waiter.waitForToken('k', WAIT_MS, signal), 'after the lock expired'), undefined);
  });

  test('waits: with no lock held, returns at once with what is stored', async ({ open, signal }) => {
    const [holder, waiter] = [await open(), await open()];
    const token = sampleToken();
    await holder.set('k', token, 60_000);
    assert.equal((await answer(waiter.waitForToken('k', WAIT_MS, signal), 'with no lock held'))?.accessToken, token.accessToken);
    assert.equal(await answer(waiter.waitForToken('nothing', WAIT_MS, signal), 'with no lock held'), undefined);
  });

  test('waits: resolves undefined at its timeout while the lock is held', async ({ open, signal }) => {
    const [holder, waiter] = [await open(), await open()];
    await holder.acquireLock('k', WAIT_MS);
    const started = performance.now();
    assert.equal(await answer(waiter.waitForToken('k', 400, signal), 'after its 400 ms timeout'), undefined);
    assert.ok(since(started) >= 350, `the wait gave up after ${Math.round(since(started))} ms, before its 400 ms timeout`);
  });

  test('waits: an abort rejects with the signal’s reason, at once', async ({ open }) => {
    const [holder, waiter] = [await open(), await open()];
    await holder.acquireLock('k', WAIT_MS);
    const reason = new Error('stop waiting');
    const isReason = (error: unknown) => error === reason;
    const early = await within(waiter.waitForToken('k', WAIT_MS, AbortSignal.abort(reason)), PROMPT_MS);
    assert.equal(early.settled, 'rejected', `an already aborted signal left the wait ${early.settled}`);
    assert.ok(early.settled === 'rejected' && isReason(early.error), 'an already aborted signal rejected with another error than its reason');
    const controller = new AbortController();
    const waiting = waiter.waitForToken('k', WAIT_MS, controller.signal);
    await sleep(200);
    controller.abort(reason);
    const outcome = await within(waiting, PROMPT_MS);
    assert.equal(outcome.settled, 'rejected', `an abort during the wait left it ${outcome.settled}`);
    assert.ok(outcome.settled === 'rejected' && isReason(outcome.error), 'the abort rejected with another error than its reason');
  });

  test('waits: close() ends a pending wait', async ({ open, close, signal }) => {
    const [holder, waiter] = [await open(), await open()];
    await holder.acquireLock('k', WAIT_MS);
    const waiting = waiter.waitForToken('k', WAIT_MS, signal);
    await sleep(200);
    await close(waiter);
    const outcome = await within(waiting, PROMPT_MS);
    assert.notEqual(outcome.settled, 'pending', `close() left a wait pending for ${PROMPT_MS} ms`);
  });
};
