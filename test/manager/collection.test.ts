/**
 * A manager that is dropped without `close()` is garbage-collected: nothing global (a timer, telemetry)
 * keeps it, its registrations, providers and cached tokens alive. Each case uses a manager with the
 * memory store, does one thing with it (cache a token, refresh ahead in the background, fail and cool
 * down), drops every reference, forces collections and checks a WeakRef to it is empty. Real timers.
 * Last, the clock watch itself: its interval ends at the first check after its owner is gone.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CLOCK_CHECK_INTERVAL_MS, ClockWatch } from '../../src/core/clock-watch.js';
import { observedManagers } from '../../src/core/otel.js';
import { createTokenManager, ProviderUnavailableError, type TokenManager, type TokenManagerOptions } from '../../src/index.js';
import { fakeProvider, tokenBody, type FakeProvider } from '../helpers/fake-provider.js';

// Vitest's workers have no `gc`: turn the flag on, then take `gc` from a context made after it.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const tick = (ms = 0): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Whether `ref`'s target is collected within a few full collections. `deref()` keeps its target alive
 * until the end of the current job, so each collection runs in a later job than the last `deref()`.
 */
async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 10; i++) {
    await tick();
    gc();
    await tick();
    if (ref.deref() === undefined) return true;
  }
  return false;
}

/** Waits (bounded) until `done()` holds. */
async function until(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) await tick(10);
  if (!done()) throw new Error(`timed out waiting for ${what}`);
  await tick(); // and for what follows it in the same turn (the single-flight's `finally`)
}

/**
 * Makes a manager over `fake`, runs `use` on it and returns only a WeakRef: once this function has
 * returned, no frame of the test holds the manager.
 */
async function usedAndDropped(
  options: Omit<TokenManagerOptions, 'providers'>,
  use: (tokens: TokenManager, fake: FakeProvider) => Promise<void>,
  fake: FakeProvider = fakeProvider(),
): Promise<WeakRef<TokenManager>> {
  const tokens = createTokenManager({ ...options, providers: { p: fake.provider } });
  await use(tokens, fake);
  return new WeakRef(tokens);
}

describe('a manager dropped without close() is garbage-collected (memory store, real timers)', () => {
  it('after getToken cached a token (the clock watch is running)', async () => {
    const ref = await usedAndDropped({}, async (tokens) => {
      await tokens.getToken('p');
      expect(tokens.stats().tokensIssued.coldStart).toBe(1);
    });
    expect(await collected(ref), 'the dropped manager was garbage-collected').toBe(true);
  });

  it('after a refresh ahead of expiry, in the background', async () => {
    // A 2 s token, no skew: served until 2 s, refreshed in the background from 1 s (half its life).
    const ref = await usedAndDropped(
      { skewMs: 0, refreshAhead: { minMs: 1_000 } },
      async (tokens) => {
        // A stalled event loop could land a call past the token's life (a plain miss): then try again.
        for (let attempt = 0; attempt < 5 && tokens.stats().tokensIssued.refreshAhead === 0; attempt++) {
          const current = await tokens.getToken('p');
          while (Date.now() < current.issuedAt + 1_000) await tick(20);
          const issued = tokens.stats().tokensIssued.total;
          await tokens.getToken('p');
          await until(() => tokens.stats().tokensIssued.total > issued, 'the new token');
        }
        expect(tokens.stats().tokensIssued.refreshAhead).toBe(1);
      },
      fakeProvider({ fallback: () => tokenBody(2) }),
    );
    expect(await collected(ref), 'the dropped manager was garbage-collected').toBe(true);
  });

  it('after a failed request that left a cool-down, with a token cached', async () => {
    const ref = await usedAndDropped({ retry: { attempts: 1 }, failureCooldownMs: 60_000 }, async (tokens, fake) => {
      const current = await tokens.getToken('p');
      fake.queue(new ProviderUnavailableError('down'));
      await expect(tokens.getToken('p', { forceRefresh: true })).rejects.toBeInstanceOf(ProviderUnavailableError);
      // The cool-down is on: a forced refresh sends nothing and serves the cached token.
      expect((await tokens.getToken('p', { forceRefresh: true })).accessToken).toBe(current.accessToken);
      expect(fake.calls()).toBe(2);
      expect(tokens.stats().cooledDown).toBe(1);
    });
    expect(await collected(ref), 'the dropped manager was garbage-collected').toBe(true);
  });

  it('after a cold start that failed after a retry (no token, a cool-down)', async () => {
    const ref = await usedAndDropped({ retry: { attempts: 2, baseDelayMs: 1 }, failureCooldownMs: 60_000 }, async (tokens, fake) => {
      fake.queue(new ProviderUnavailableError('down'), new ProviderUnavailableError('down'));
      await expect(tokens.getToken('p')).rejects.toBeInstanceOf(ProviderUnavailableError);
      expect(fake.calls()).toBe(2);
    });
    expect(await collected(ref), 'the dropped manager was garbage-collected').toBe(true);
  });
});

describe('telemetry (with @opentelemetry/api installed, no SDK)', () => {
  it('forgets a collected manager: its weak reference does not stay behind in the observed set', async () => {
    const made = async () => {
      const refs: WeakRef<TokenManager>[] = [];
      for (let i = 0; i < 20; i++) refs.push(await usedAndDropped({}, async (tokens) => void (await tokens.getToken('p'))));
      return refs;
    };
    await usedAndDropped({}, async () => {}); // the binding is loaded (asynchronously, on the first manager)
    await tick();
    const before = observedManagers();
    const refs = await made();
    expect(observedManagers()).toBe(before + 20);
    for (const ref of refs) expect(await collected(ref), 'the dropped manager was garbage-collected').toBe(true);
    // FinalizationRegistry callbacks run in a later task than the collection.
    for (let i = 0; i < 20 && observedManagers() > before; i++) await tick(10);
    expect(observedManagers()).toBeLessThanOrEqual(before);
  });
});

describe('ClockWatch', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A started watch whose owner only `holder` holds (this function's frame is gone once it returns). */
  function watched(): { holder: { owner?: object }; owner: WeakRef<object> } {
    const holder: { owner?: object } = { owner: {} };
    new ClockWatch(holder.owner!, () => {}).start();
    return { holder, owner: new WeakRef(holder.owner!) };
  }

  it('clears its interval at the first check after its owner is collected', async () => {
    // Only the interval is faked: `collected` needs real timeouts.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { holder, owner } = watched();
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(CLOCK_CHECK_INTERVAL_MS); // the owner lives: the watch goes on
    expect(vi.getTimerCount()).toBe(1);
    delete holder.owner;
    expect(await collected(owner), 'the owner was garbage-collected while its watch ran').toBe(true);
    vi.advanceTimersByTime(CLOCK_CHECK_INTERVAL_MS);
    expect(vi.getTimerCount()).toBe(0);
  });
});
