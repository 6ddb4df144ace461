/**
 * A shared store and the call budget: a store without one cannot keep a paced provider's calls inside
 * the limit fleet-wide (guarantee 7), so a manager that would need it refuses at construction and at
 * `register` instead of pacing each process alone. A shared budget that fails at run time still falls
 * back to this process's, loudly: that is an outage, not a configuration.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  alternativePayments,
  autopay,
  ConfigError,
  createTokenManager,
  defineProvider,
  RateLimitedError,
  type CallBudget,
  type SharedTokenStore,
  type TokenManager,
} from '../../src/index.js';
import { MapBacking, mapStore } from '../../examples/custom-store/map-store.js';

const ap = () => alternativePayments({ clientId: 'ap-client', clientSecret: 'ap-secret-never-shown', environment: 'demo' });
const unpaced = () => autopay({ clientId: 'autopay-client', clientSecret: 'autopay-secret' });
const custom = () =>
  defineProvider({
    kind: 'custom',
    tokenUrl: 'https://auth.example.test/oauth/token',
    clientId: 'custom-client',
    clientSecret: 'custom-secret',
    rateLimit: { requests: 10, perMs: 1000 },
    requestToken: async () => ({ body: { access_token: 'a', token_type: 'bearer', expires_in: 3600 } }),
  });

/** A shared store as a JavaScript user (or an older custom store) may hand over: no `callBudget`. */
function storeWithoutBudget(): SharedTokenStore {
  const store: Partial<SharedTokenStore> = { ...mapStore(new MapBacking()) };
  delete (store as { callBudget?: CallBudget }).callBudget;
  return store as SharedTokenStore;
}

/** A logger that keeps the warnings. */
function warningsLogger() {
  const warnings: string[] = [];
  return { warnings, logger: { debug() {}, info() {}, warn: (_: unknown, message: string) => void warnings.push(message), error() {} } };
}

/** What `make` throws; fails the test when it throws nothing. */
function thrown(make: () => unknown): ConfigError {
  try {
    make();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('a shared store without a call budget', () => {
  const managers: TokenManager[] = [];
  afterEach(async () => {
    await Promise.all(managers.splice(0).map((manager) => manager.close()));
  });
  const keep = (manager: TokenManager) => (managers.push(manager), manager);

  it('is a ConfigError at construction when a provider is paced, naming the store, the paced ids and the two ways out', () => {
    const error = thrown(() => createTokenManager({ providers: { ap: ap(), pay: unpaced(), mine: custom() }, store: storeWithoutBudget() }));
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]!.path).toBe('createTokenManager.store');
    expect(error.message).toMatch(/shared store \(a plain object\) has no callBudget/);
    expect(error.message).toContain('"ap", "mine"');
    expect(error.message).not.toContain('"pay"'); // Autopay has no rateLimit: nothing to pace
    expect(error.message).toContain('docs/custom-store.md');
    expect(error.message).toContain('rateLimit: false');
    expect(error.message).not.toContain('secret-never-shown');
  });

  it('docs/custom-store.md shows the message as it is', () => {
    const error = thrown(() => createTokenManager({ providers: { ap: ap() }, store: storeWithoutBudget() }));
    const page = readFileSync(new URL('../../docs/custom-store.md', import.meta.url), 'utf8');
    const shown = /```\n(ConfigError: [^`]*)```/.exec(page)?.[1];
    expect(shown?.replace(/\s+/g, ' ').trim()).toBe(`ConfigError: ${error.message}`);
  });

  it('is a ConfigError when register adds a paced provider; the id is not registered', () => {
    const { warnings, logger } = warningsLogger();
    const tokens = keep(createTokenManager({ providers: { pay: unpaced() }, store: storeWithoutBudget(), logger }));
    const error = thrown(() => tokens.register('ap', ap()));
    expect(error.issues[0]!.path).toBe('register.ap');
    expect(error.message).toMatch(/has no callBudget/);
    expect(error.message).toContain('"ap"');
    expect(tokens.providerIds()).toEqual(['pay']);
    tokens.register('other', unpaced()); // unpaced: fine
    expect(tokens.providerIds()).toEqual(['pay', 'other']);
    expect(warnings).toEqual([]);
  });

  it('is fine, without a warning, when no provider is paced (rateLimit: false included)', () => {
    const { warnings, logger } = warningsLogger();
    const noLimit = alternativePayments({ clientId: 'ap-client', clientSecret: 'ap-secret', rateLimit: false });
    keep(createTokenManager({ providers: { pay: unpaced(), ap: noLimit }, store: storeWithoutBudget(), logger }));
    keep(createTokenManager({ store: storeWithoutBudget(), logger }));
    expect(warnings).toEqual([]);
  });

  it('a callBudget that is not one is a ConfigError too, paced providers or not', () => {
    const store = { ...mapStore(new MapBacking()), callBudget: { reserve: () => 0 } } as unknown as SharedTokenStore;
    const error = thrown(() => createTokenManager({ providers: { pay: unpaced() }, store }));
    expect(error.message).toMatch(/callBudget.*confirm, release, pause/);
  });
});

describe('a shared store with a call budget', () => {
  it('paces paced providers through it, without a warning', async () => {
    const { warnings, logger } = warningsLogger();
    const backing = new MapBacking();
    const tokens = createTokenManager({ providers: { ap: ap() }, store: mapStore(backing), logger });
    const other = createTokenManager({ providers: { ap: ap() }, store: mapStore(backing), logger, maxWaitMs: 0 });
    try {
      const limit = 5; // Alternative Payments' default, per 1000 ms
      for (let i = 0; i < limit; i++) await tokens.acquire('ap');
      // The other "process" sees those calls: its first would wait about a second, past its maxWaitMs 0.
      await expect(other.acquire('ap')).rejects.toBeInstanceOf(RateLimitedError);
      expect(warnings).toEqual([]);
    } finally {
      await Promise.all([tokens.close(), other.close()]);
    }
  });

  it('a shared budget that fails at run time falls back to this process, with one warning (the fallback stays)', async () => {
    const { warnings, logger } = warningsLogger();
    const failing: CallBudget = {
      reserve: () => Promise.reject(new Error('backing down')),
      confirm: () => Promise.reject(new Error('backing down')),
      release: () => Promise.reject(new Error('backing down')),
      pause: () => Promise.reject(new Error('backing down')),
    };
    const tokens = createTokenManager({ providers: { ap: ap() }, store: { ...mapStore(new MapBacking()), callBudget: failing }, logger });
    try {
      await tokens.acquire('ap');
      await tokens.acquire('ap');
      expect(warnings).toEqual(["the shared store's call budget failed; API calls are paced by this process alone until it answers again"]);
    } finally {
      await tokens.close();
    }
  });
});
