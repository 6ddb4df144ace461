/**
 * `defineProvider`'s `clientSecret` is a source like every other secret (DESIGN.md, "Secrets are
 * sources"): a value, a function or `secretFile(path)`. `requestToken` gets the current value as
 * `clientSecret`; the cache key follows it; a refusal after the source changed is answered with the new
 * secret at once (no failed call); a bad source is a ConfigError naming the field and quoting nothing.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, createTokenManager, defineProvider, InvalidCredentialsError, secretFile, type Provider, type SecretSource } from '../../src/index.js';

const OLD = 'define-old-secret-Qx7!v-1';
const NEW = 'define-new-secret-Wz4?k-2';

/** A token endpoint in memory that accepts one secret at a time, and what it was sent. */
function bank(initial: string) {
  const state = { accepted: initial, sent: [] as string[], issued: 0 };
  const provider = (clientSecret: SecretSource, clientId = 'shop-1'): Provider =>
    defineProvider({
      kind: 'memory-bank',
      tokenUrl: 'https://auth.memory-bank.example/token',
      clientId,
      clientSecret,
      requestToken: async ({ clientSecret: secret }) => {
        state.sent.push(secret);
        if (secret !== state.accepted) throw new InvalidCredentialsError('memory-bank refused the credentials', { status: 401 });
        state.issued += 1;
        return { body: { access_token: `memory-bank-token-${state.issued}`, token_type: 'Bearer', expires_in: 900 } };
      },
    });
  return { state, provider };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-define-secret-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('defineProvider: clientSecret as a source', () => {
  it('a value is handed to requestToken as clientSecret', async () => {
    const { state, provider } = bank(OLD);
    const tokens = createTokenManager({ providers: { bank: provider(OLD) } });
    await expect(tokens.getToken('bank')).resolves.toMatchObject({ accessToken: 'memory-bank-token-1' });
    expect(state.sent).toEqual([OLD]);
    await tokens.close();
  });

  it('a function is read before the first request; the cache key is the one the value gives', async () => {
    const { state, provider } = bank(OLD);
    let calls = 0;
    const fromFunction = provider(async () => {
      calls++;
      return OLD;
    });
    const unread = fromFunction.cacheKey;
    expect(calls).toBe(0);
    const tokens = createTokenManager({ providers: { bank: fromFunction } });
    await tokens.getToken('bank');
    expect(calls).toBe(1);
    expect(state.sent).toEqual([OLD]);
    expect(fromFunction.cacheKey).toBe(provider(OLD).cacheKey);
    expect(unread).not.toBe(fromFunction.cacheKey);
    await tokens.close();
  });

  it('a rotated function: a refusal is answered with the new secret at once, under a new cache key', async () => {
    const { state, provider } = bank(OLD);
    let reads = 0;
    let newFromRead = Infinity;
    const rotating = provider(() => (++reads >= newFromRead ? NEW : OLD));
    const tokens = createTokenManager({ providers: { bank: rotating } });
    await tokens.getToken('bank');
    const before = rotating.cacheKey;
    // The endpoint moves to the new secret while the read before the request still gives the old one:
    // that request is refused, the source is read again, and the caller never sees the refusal.
    state.accepted = NEW;
    newFromRead = reads + 2;
    await expect(tokens.getToken('bank', { forceRefresh: true })).resolves.toMatchObject({ accessToken: 'memory-bank-token-2' });
    expect(state.sent).toEqual([OLD, OLD, NEW]);
    expect(rotating.cacheKey).not.toBe(before);
    expect(rotating.cacheKey).toBe(provider(NEW).cacheKey);
    await tokens.close();
  });

  it('a secret file replaced by rename is read before the next request: nothing refused', async () => {
    const { state, provider } = bank(OLD);
    const path = join(dir, 'client-secret');
    writeFileSync(path, `${OLD}\n`);
    const fromFile = provider(secretFile(path));
    // A file is read at construction: the key is the value's from the start.
    expect(fromFile.cacheKey).toBe(provider(OLD).cacheKey);
    const tokens = createTokenManager({ providers: { bank: fromFile } });
    await tokens.getToken('bank');
    state.accepted = NEW;
    writeFileSync(`${path}.new`, `${NEW}\n`);
    renameSync(`${path}.new`, path);
    await expect(tokens.getToken('bank', { forceRefresh: true })).resolves.toMatchObject({ accessToken: 'memory-bank-token-2' });
    // Read before the request (the new value): nothing refused at all.
    expect(state.sent).toEqual([OLD, NEW]);
    await tokens.close();
  });

  it('without the manager, requestToken reads a function source first', async () => {
    const { state, provider } = bank(OLD);
    const direct = provider(() => OLD);
    await expect(direct.requestToken({ signal: new AbortController().signal, timeoutMs: 1_000 })).resolves.toMatchObject({
      body: { access_token: 'memory-bank-token-1' },
    });
    expect(state.sent).toEqual([OLD]);
  });

  it('a bad source is a ConfigError naming defineProvider.clientSecret; a failing one quotes nothing', async () => {
    const { provider } = bank(OLD);
    for (const bad of ['', 42, undefined, { path: 1 }] as unknown[]) {
      let caught: unknown;
      try {
        provider(bad as SecretSource);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).message).toContain('defineProvider.clientSecret');
    }
    const throwing = provider(() => {
      throw new Error(`vault said: ${NEW}`);
    });
    const tokens = createTokenManager({ providers: { bank: throwing } });
    const error = await tokens.getToken('bank').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(inspect(error, { depth: Infinity })).not.toContain(NEW);
    expect(JSON.stringify(error)).not.toContain(NEW);
    await tokens.close();
  });

  it('the provider never shows its secret, whatever the source', async () => {
    const { provider } = bank(OLD);
    const path = join(dir, 'shown-secret');
    writeFileSync(path, NEW);
    for (const source of [OLD, () => OLD, secretFile(path)] as SecretSource[]) {
      const shown = provider(source);
      await shown.readSecrets?.(() => {});
      for (const text of [inspect(shown, { depth: Infinity, showHidden: true }), JSON.stringify(shown), String(Object.keys(shown))]) {
        expect(text).not.toContain(OLD);
        expect(text).not.toContain(NEW);
      }
    }
  });
});
