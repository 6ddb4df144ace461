/**
 * The published conformance suite (`tokenbroker/testing`) itself: it fails stores that break the
 * contract — each deliberately broken store below fails exactly the tests about what it breaks —, it
 * runs under node:test as under vitest, and it imports no test framework.
 *
 * The broken stores run through a runner shim that collects the suite's tests and runs them all at
 * once (each on its own namespace), recording which fail: a failing test here is the expected outcome.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { CallBudget, SharedTokenStore } from 'tokenbroker';
import { storeConformance } from 'tokenbroker/testing';
import { MapBacking, mapStore } from '../../examples/custom-store/map-store.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Result {
  readonly name: string;
  readonly error: unknown;
}

/** Runs the whole suite against `create` through a shim runner; returns the names of the failed tests. */
async function failuresOf(create: (backing: MapBacking) => SharedTokenStore): Promise<{ failed: string[]; errors: unknown[]; ran: number }> {
  const tests: Array<{ name: string; body: () => Promise<void> }> = [];
  const backings = new Map<string, MapBacking>();
  storeConformance({
    name: 'shim',
    create: (namespace) => create(backings.get(namespace) ?? backings.set(namespace, new MapBacking()).get(namespace)!),
    it: (name, body) => tests.push({ name, body }),
  });
  const results: Result[] = await Promise.all(
    tests.map(({ name, body }) =>
      body().then(
        () => ({ name, error: undefined }),
        (error: unknown) => ({ name, error }),
      ),
    ),
  );
  const failed = results.filter((result) => result.error !== undefined);
  // Every failure is an assertion of the suite, not a crash of the shim.
  for (const { error } of failed) expect((error as Error).name).toBe('AssertionError');
  return { failed: failed.map((result) => result.name.replace(/^shim: /, '')).sort(), errors: failed.map((result) => result.error), ran: results.length };
}

/** `store` with some methods replaced (the example store is a plain object: spreading keeps every member). */
function broken(store: SharedTokenStore, overrides: Partial<SharedTokenStore>): SharedTokenStore {
  return { ...store, ...overrides };
}

/** `store`'s call budget with some methods replaced. */
function brokenBudget(store: SharedTokenStore, overrides: Partial<CallBudget>): SharedTokenStore {
  return { ...store, callBudget: { ...store.callBudget, ...overrides } };
}

/** Every test of the call-budget section: a store without a budget fails each of them. */
const CALL_BUDGET_TESTS = [
  'call budget: `requests` calls in a window go at once; the next waits about one window',
  'call budget: a confirmed call counts from its answer, never from earlier',
  'call budget: a pause holds every call of its key until it ends; a shorter later pause does not cut it',
  'call budget: a slot past maxWaitMs is a refusal that holds nothing',
  'call budget: keys are independent',
  'call budget: release gives the slot back; releasing an unknown call is harmless',
  'call budget: the same id asking again (a waiter’s second look) is counted once',
  'call budget: two stores on the same backing share one budget, pauses included',
];

describe('the conformance suite', () => {
  it('passes the example custom store: no failure through the shim either', async () => {
    const { failed, ran } = await failuresOf((backing) => mapStore(backing));
    expect(failed).toEqual([]);
    expect(ran).toBe(34);
  });

  it('fails a store whose releaseLock ignores the owner', async () => {
    const { failed } = await failuresOf((backing) =>
      broken(mapStore(backing), {
        async releaseLock(key) {
          backing.locks.delete(key);
        },
      }),
    );
    expect(failed).toEqual(['locks: a holder whose lease expired cannot release the next holder', 'locks: released only by its owner']);
  });

  it('fails a store whose waitForToken never wakes: it waits out its timeout, then reads', async () => {
    const { failed } = await failuresOf((backing) => {
      const store = mapStore(backing);
      return broken(store, {
        async waitForToken(key, timeoutMs, signal) {
          await new Promise((resolve) => setTimeout(resolve, timeoutMs));
          signal.throwIfAborted();
          return store.get(key);
        },
      });
    });
    expect(failed).toEqual([
      'waits: an abort rejects with the signal’s reason, at once',
      'waits: close() ends a pending wait',
      'waits: returns when the lock expires (its holder died)',
      'waits: returns when the lock is released, with what is stored (here nothing)',
      'waits: the token there when the wait began is not the answer; the one stored next is',
      'waits: wakes with the token another store stores while it holds the lock',
      'waits: with no lock held, returns at once with what is stored',
    ]);
  }, 20_000);

  it('fails a store whose locks never expire (a dead holder would block its credential for good)', async () => {
    const { failed } = await failuresOf((backing) => {
      const store = mapStore(backing);
      return broken(store, { acquireLock: (key) => store.acquireLock(key, Number.MAX_SAFE_INTEGER / 2) });
    });
    expect(failed).toEqual([
      'locks: a holder whose lease expired cannot release the next holder',
      'locks: extendLock after the lease expired returns false and takes nothing back',
      'locks: the lease expires by itself (a dead holder lets go), and not before',
      'waits: returns when the lock expires (its holder died)',
    ]);
  }, 20_000);

  it('fails a store whose extendLock renews for anyone', async () => {
    const { failed } = await failuresOf((backing) => {
      const store = mapStore(backing);
      return broken(store, {
        async extendLock(key, _owner, ttlMs) {
          const lock = backing.locks.get(key);
          if (lock !== undefined) lock.until = Date.now() + ttlMs;
          return lock !== undefined;
        },
      });
    });
    expect(failed).toEqual([
      'locks: extendLock after the lease expired returns false and takes nothing back',
      'locks: extendLock renews the lease for its owner only',
    ]);
  });

  it('fails a store whose delete ignores the token named (no compare-and-delete)', async () => {
    const { failed } = await failuresOf((backing) => broken(mapStore(backing), { delete: async (key) => void backing.tokens.delete(key) }));
    expect(failed).toEqual([
      'a token one store sets, another store on the same backing reads, and can compare-and-delete',
      'compare-and-delete drops the token only while it is still the one named',
    ]);
  });

  it('fails a store without a callBudget in every call-budget test, saying what is missing', async () => {
    const { failed, errors } = await failuresOf((backing) => {
      const store: Partial<SharedTokenStore> = { ...mapStore(backing) };
      delete (store as { callBudget?: CallBudget }).callBudget;
      return store as SharedTokenStore;
    });
    expect(failed).toEqual(CALL_BUDGET_TESTS);
    for (const error of errors) expect((error as Error).message).toMatch(/^the store has no callBudget: .*reserve, confirm, release and pause/);
  });

  it('fails a store whose call budget never counts a call (each reservation forgotten at once)', async () => {
    const { failed } = await failuresOf((backing) => {
      const store = mapStore(backing);
      return brokenBudget(store, {
        async reserve(key, id, limit, maxWaitMs) {
          const wait = await store.callBudget.reserve(key, id, limit, maxWaitMs);
          await store.callBudget.release(key, id);
          return wait;
        },
      });
    });
    // Every test but the pause's, which needs no count.
    expect(failed).toEqual(CALL_BUDGET_TESTS.filter((name) => !name.startsWith('call budget: a pause')));
  });

  it('fails a store whose call budget keeps a refused call (a refusal must hold nothing)', async () => {
    const { failed } = await failuresOf((backing) => {
      const store = mapStore(backing);
      return brokenBudget(store, {
        async reserve(key, id, limit, maxWaitMs) {
          const wait = await store.callBudget.reserve(key, id, limit, Number.MAX_SAFE_INTEGER);
          return wait > maxWaitMs ? -wait : wait;
        },
      });
    });
    expect(failed).toEqual(['call budget: a slot past maxWaitMs is a refusal that holds nothing']);
  });

  it('fails a store whose call budget ignores pauses', async () => {
    const { failed } = await failuresOf((backing) => brokenBudget(mapStore(backing), { pause: async () => {} }));
    expect(failed).toEqual([
      'call budget: a pause holds every call of its key until it ends; a shorter later pause does not cut it',
      'call budget: two stores on the same backing share one budget, pauses included',
    ]);
  });

  it('fails a store whose pause takes the latest pause, not the longest', async () => {
    const { failed } = await failuresOf((backing) => {
      const store = mapStore(backing);
      return brokenBudget(store, {
        async pause(key, pauseMs) {
          const calls = backing.calls.get(key);
          if (calls !== undefined) calls.pausedUntil = 0;
          await store.callBudget.pause(key, pauseMs);
        },
      });
    });
    expect(failed).toEqual(['call budget: a pause holds every call of its key until it ends; a shorter later pause does not cut it']);
  });

  it('runs under node:test, with no test framework but Node', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', 'examples/custom-store/map-store.node-test.ts'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 90_000,
    });
    expect(result.stdout).toMatch(/ℹ pass 34\b/);
    expect(result.stdout).toMatch(/ℹ fail 0\b/);
    expect(result.status).toBe(0);
  }, 120_000);

  it('docs/custom-store.md shows the two example test files verbatim', () => {
    const page = readFileSync(`${root}docs/custom-store.md`, 'utf8');
    for (const file of ['map-store.test.ts', 'map-store.node-test.ts']) {
      const code = readFileSync(`${root}examples/custom-store/${file}`, 'utf8');
      const body = code.slice(code.search(/^import /m));
      expect(page).toContain(`\`\`\`ts\n${body}\`\`\``);
    }
  });

  it('loads nothing but node:assert at run time: no test framework, no package, no other module of tokenbroker', () => {
    // The run-time imports reachable from the entry point (type-only imports vanish when compiled).
    const folder = fileURLToPath(new URL('../../src/stores/conformance/', import.meta.url));
    const seen = new Set<string>();
    const external = new Set<string>();
    const visit = (path: string): void => {
      if (seen.has(path)) return;
      seen.add(path);
      for (const [, specifier] of readFileSync(path, 'utf8').matchAll(/^import\s(?!type\s)[^;]*?from\s+'([^']+)'/gm)) {
        if (specifier!.startsWith('.')) visit(resolve(dirname(path), specifier!.replace(/\.js$/, '.ts')));
        else external.add(specifier!);
      }
    };
    visit(`${folder}index.ts`);
    expect([...external]).toEqual(['node:assert/strict']);
    expect([...seen].filter((path) => !path.startsWith(folder))).toEqual([]);
    expect(seen.size).toBeGreaterThan(4);
  });
});
