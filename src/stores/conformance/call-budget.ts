/**
 * The call budget (API pacing, docs/rate-limits.md): a sliding-window log with reserved slots, shared
 * by every store on one backing. Tested through the public `CallBudget` methods only, on the real
 * clock: a store may place calls by its server's clock (the Redis one does), and a wait is measured
 * from that clock's now, so the tests compare waits with windows of seconds, with a second of margin,
 * and sleep only where a slot must move under the real clock (a confirmation, a pause's end).
 */
import assert from 'node:assert/strict';
import type { CallBudget, RateLimit } from '../call-budget.js';
import type { SharedTokenStore } from '../types.js';
import { sleep, type Section } from './harness.js';

/** A window long enough that no test outlives it: a wait "about one window" is in (WINDOW − MARGIN, WINDOW]. */
const WINDOW_MS = 10_000;
/** How far a wait may fall short of its expected value: time spent between the calls, on a slow machine. */
const MARGIN_MS = 1_000;
/** Long enough that no test is refused unless it means to be. */
const NO_DEADLINE_MS = 60_000;

const one: RateLimit = { requests: 1, perMs: WINDOW_MS };

/** The store's call budget, or a failure saying what is missing. */
function budgetOf(store: SharedTokenStore): CallBudget {
  const budget = (store as { callBudget?: unknown }).callBudget as Partial<CallBudget> | undefined;
  assert.ok(
    typeof budget === 'object' && budget !== null,
    'the store has no callBudget: a shared store keeps the call budget (API pacing) of every process sharing it, ' +
      'with reserve, confirm, release and pause (docs/custom-store.md)',
  );
  for (const method of ['reserve', 'confirm', 'release', 'pause'] as const) {
    assert.equal(typeof budget[method], 'function', `the store's callBudget has no ${method} method`);
  }
  return budget as CallBudget;
}

/** Asserts that `wait` is a slot about `expected` ms away (never later, at most MARGIN_MS earlier). */
function about(wait: number, expected: number, what: string): void {
  assert.ok(wait <= expected && wait > expected - MARGIN_MS, `${what}: the wait was ${wait} ms, expected about ${expected} (within ${MARGIN_MS})`);
}

/** Asserts that `wait` is a refusal (negative) of a slot about `expected` ms away. */
function refusedAbout(wait: number, expected: number, what: string): void {
  assert.ok(wait < 0, `${what}: reserve returned ${wait}, not a refusal (a negative wait), though the slot was past maxWaitMs`);
  about(-wait, expected, what);
}

/** The call-budget tests. */
export const callBudgetSection: Section<SharedTokenStore> = (test) => {
  test('call budget: `requests` calls in a window go at once; the next waits about one window', async ({ open }) => {
    const budget = budgetOf(await open());
    const limit: RateLimit = { requests: 3, perMs: WINDOW_MS };
    for (const id of ['a', 'b', 'c']) assert.equal(await budget.reserve('k', id, limit, NO_DEADLINE_MS), 0, `call ${id} within the limit had to wait`);
    about(await budget.reserve('k', 'd', limit, NO_DEADLINE_MS), WINDOW_MS, 'the call past the limit');
    about(await budget.reserve('k', 'e', limit, NO_DEADLINE_MS), WINDOW_MS, 'the second call past the limit (its window holds two)');
  });

  test('call budget: a slot past maxWaitMs is a refusal that holds nothing', async ({ open }) => {
    const budget = budgetOf(await open());
    assert.equal(await budget.reserve('k', 'a', one, NO_DEADLINE_MS), 0);
    refusedAbout(await budget.reserve('k', 'refused', one, 1_000), WINDOW_MS, 'a call whose slot is past its maxWaitMs');
    // Had the refused call been kept, this one would wait two windows.
    about(await budget.reserve('k', 'next', one, NO_DEADLINE_MS), WINDOW_MS, 'the call after a refusal');
    // A waiter refused on its second look gives its slot up too.
    refusedAbout(await budget.reserve('k', 'next', one, 0), WINDOW_MS, "a waiter's second look past its maxWaitMs");
    about(await budget.reserve('k', 'last', one, NO_DEADLINE_MS), WINDOW_MS, 'the call after a waiter gave up');
  });

  test('call budget: the same id asking again (a waiter’s second look) is counted once', async ({ open }) => {
    const budget = budgetOf(await open());
    assert.equal(await budget.reserve('k', 'a', one, NO_DEADLINE_MS), 0);
    about(await budget.reserve('k', 'waiter', one, NO_DEADLINE_MS), WINDOW_MS, 'the first look');
    // Its own entry is not ahead of it: still one window, not two.
    about(await budget.reserve('k', 'waiter', one, NO_DEADLINE_MS), WINDOW_MS, 'the second look');
    about(await budget.reserve('k', 'waiter', one, NO_DEADLINE_MS), WINDOW_MS, 'the third look');
    // Counted once: the next call is one window behind it, not two.
    about(await budget.reserve('k', 'next', one, NO_DEADLINE_MS), 2 * WINDOW_MS, 'the call after the waiter');
  });

  test('call budget: release gives the slot back; releasing an unknown call is harmless', async ({ open }) => {
    const budget = budgetOf(await open());
    assert.equal(await budget.reserve('k', 'a', one, NO_DEADLINE_MS), 0);
    about(await budget.reserve('k', 'aborted', one, NO_DEADLINE_MS), WINDOW_MS, 'the waiter');
    await budget.release('k', 'aborted');
    await budget.release('k', 'never-placed');
    about(await budget.reserve('k', 'next', one, NO_DEADLINE_MS), WINDOW_MS, 'the call after a released waiter (it took its slot)');
    await budget.release('k', 'a');
    assert.equal(await budget.reserve('k', 'next', one, NO_DEADLINE_MS), 0, 'after the call ahead was released, its slot stayed taken');
  });

  test('call budget: a confirmed call counts from its answer, never from earlier', async ({ open }) => {
    const budget = budgetOf(await open());
    const limit: RateLimit = { requests: 1, perMs: 1_500 };
    assert.equal(await budget.reserve('k', 'a', limit, NO_DEADLINE_MS), 0);
    await sleep(700); // the answer came 0.7 s after the call was sent
    const confirmedAt = Date.now();
    await budget.confirm('k', 'a');
    // Counted from the slot, the next call would wait at most 800 ms; from the answer, about 1 500.
    const wait = await budget.reserve('k', 'b', limit, NO_DEADLINE_MS);
    assert.ok(wait > limit.perMs - (Date.now() - confirmedAt) - 150, `the call after a confirmed one waited ${wait} ms: it counts from its slot`);
    // Confirming a call whose slot is still ahead leaves it there (moved to now, the next would go sooner).
    assert.equal(await budget.reserve('future', 'c', one, NO_DEADLINE_MS), 0);
    about(await budget.reserve('future', 'd', one, NO_DEADLINE_MS), WINDOW_MS, 'the call behind the first');
    await budget.confirm('future', 'd');
    about(await budget.reserve('future', 'e', one, NO_DEADLINE_MS), 2 * WINDOW_MS, 'the call after a confirmed future slot');
  });

  test('call budget: a pause holds every call of its key until it ends; a shorter later pause does not cut it', async ({ open }) => {
    const budget = budgetOf(await open());
    const many: RateLimit = { requests: 5, perMs: 1_000 };
    await budget.pause('k', 3_000);
    about(await budget.reserve('k', 'a', many, NO_DEADLINE_MS), 3_000, 'a call during a pause');
    await budget.pause('k', 100);
    about(await budget.reserve('k', 'b', many, NO_DEADLINE_MS), 3_000, 'a call after a shorter pause was set');
    refusedAbout(await budget.reserve('k', 'c', many, 1_000), 3_000, 'a call during a pause, past its maxWaitMs');
    assert.equal(await budget.reserve('other', 'd', many, NO_DEADLINE_MS), 0, 'a pause of one key held another');
    // A pause ends by itself.
    await budget.pause('short', 300);
    assert.ok((await budget.reserve('short', 'e', many, NO_DEADLINE_MS)) > 0, 'a call during a 300 ms pause went at once');
    await sleep(600);
    assert.equal(await budget.reserve('short', 'f', many, NO_DEADLINE_MS), 0, 'a call after the pause ended still waited');
  });

  test('call budget: two stores on the same backing share one budget, pauses included', async ({ open }) => {
    const [a, b] = [budgetOf(await open()), budgetOf(await open())];
    assert.equal(await a.reserve('k', 'first', one, NO_DEADLINE_MS), 0);
    about(await b.reserve('k', 'second', one, NO_DEADLINE_MS), WINDOW_MS, "another store's call after the first store's");
    await b.release('k', 'first'); // another process may release it too: the log is shared
    assert.equal(await a.reserve('k', 'second', one, NO_DEADLINE_MS), 0, 'a slot released through another store stayed taken');
    await a.pause('paused', 3_000);
    about(await b.reserve('paused', 'c', { requests: 5, perMs: 1_000 }, NO_DEADLINE_MS), 3_000, "a call after another store's pause");
  });

  test('call budget: keys are independent', async ({ open }) => {
    const budget = budgetOf(await open());
    assert.equal(await budget.reserve('one', 'a', one, NO_DEADLINE_MS), 0);
    about(await budget.reserve('one', 'b', one, NO_DEADLINE_MS), WINDOW_MS, 'the second call of one key');
    assert.equal(await budget.reserve('two', 'c', one, NO_DEADLINE_MS), 0, "a key's calls held another key's");
    // The same call id under another key is another call.
    assert.equal(await budget.reserve('three', 'b', one, NO_DEADLINE_MS), 0, 'a call id under another key was taken for the first');
  });
};
