/**
 * The manager-level conformance suite: the same policy outcomes whichever store sits behind a token
 * manager. The store-level suite is published: `tokenbroker/testing` (src/stores/conformance/).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenManager, type TokenStore } from '../../src/index.js';
import { fakeProvider } from '../helpers/fake-provider.js';

export { sampleToken } from '../../src/stores/conformance/harness.js';

/** The manager-level suite: the same policy outcomes whichever store sits behind the manager. */
export function managerConformance(name: string, makeStore: () => TokenStore): void {
  describe(`${name}: behind a token manager`, () => {
    const managers: Array<{ close(): Promise<void> }> = [];
    afterEach(async () => {
      await Promise.all(managers.splice(0).map((manager) => manager.close()));
    });
    const manager = (options: { maxTokens?: number } = {}) => {
      const fake = fakeProvider();
      const tokens = createTokenManager({
        providers: { p: fake.provider },
        store: makeStore(),
        guard: { maxTokens: options.maxTokens ?? 6 },
        retry: { attempts: 1 },
      });
      managers.push(tokens);
      return { tokens, fake };
    };

    it('500 concurrent cold calls send one request and share its token', async () => {
      const { tokens, fake } = manager();
      const results = await Promise.all(Array.from({ length: 500 }, () => tokens.getToken('p')));
      expect(fake.calls()).toBe(1);
      expect(new Set(results.map((token) => token.accessToken)).size).toBe(1);
    });

    it('invalidate drops only the named token, and the next call fetches a new one', async () => {
      const { tokens, fake } = manager();
      const first = await tokens.getToken('p');
      tokens.invalidate('p', 'an-older-token');
      expect((await tokens.getToken('p')).accessToken).toBe(first.accessToken);
      expect(tokens.invalidate('p', first.accessToken)).toBe(true);
      const second = await tokens.getToken('p');
      expect(second.accessToken).not.toBe(first.accessToken);
      expect(fake.calls()).toBe(2);
    });

    it('the issuance guard stops at its budget and serves the current token', async () => {
      const { tokens, fake } = manager({ maxTokens: 2 });
      await tokens.getToken('p');
      const forced = await tokens.getToken('p', { forceRefresh: true });
      const refused = await tokens.getToken('p', { forceRefresh: true });
      expect(fake.calls()).toBe(2);
      expect(refused.accessToken).toBe(forced.accessToken);
      expect(tokens.stats().guardRefusals).toBe(1);
    });
  });
}
