/**
 * Errors belong to the caller that gets them: deduplicated callers and callers during a cool-down each
 * get their own error object, reported under the id they asked with, and no error is mutated after it
 * was thrown. A closed manager says so with its own error class, not a ConfigError.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TokenError } from '../../src/index.js';
import { ConfigError, createTokenManager, InvalidCredentialsError, ManagerClosedError, UnknownProviderError, type TokenManager } from '../../src/index.js';
import { fakeProvider } from '../helpers/fake-provider.js';

describe('error ownership', () => {
  let tokens: TokenManager | undefined;
  afterEach(async () => {
    await tokens?.close();
    tokens = undefined;
  });

  it('concurrent callers of one fetch each get their own error object', async () => {
    const fake = fakeProvider({ fallback: () => new InvalidCredentialsError('refused', { status: 401 }) });
    tokens = createTokenManager({ providers: { a: fake.provider } });
    const [first, second] = await Promise.allSettled([tokens.getToken('a'), tokens.getToken('a')]);
    expect(fake.calls()).toBe(1);
    const e1 = (first as PromiseRejectedResult).reason as TokenError;
    const e2 = (second as PromiseRejectedResult).reason as TokenError;
    expect(e1).toBeInstanceOf(InvalidCredentialsError);
    expect(e2).toBeInstanceOf(InvalidCredentialsError);
    expect(e1).not.toBe(e2);
    expect(e1.provider).toBe('a');
    expect(e1.message).toBe(e2.message);
    expect(e1.status).toBe(401);
  });

  it('a cool-down answers every caller with a fresh copy, under the id that asked', async () => {
    const fake = fakeProvider({ fallback: () => new InvalidCredentialsError('refused') });
    // Two ids for one credential (same provider object, so one cache key and one cool-down).
    tokens = createTokenManager({ providers: { a: fake.provider, b: fake.provider } });
    const first = await tokens.getToken('a').then(
      () => undefined,
      (error: unknown) => error as TokenError,
    );
    const again = await tokens.getToken('a').then(
      () => undefined,
      (error: unknown) => error as TokenError,
    );
    const other = await tokens.getToken('b').then(
      () => undefined,
      (error: unknown) => error as TokenError,
    );
    expect(fake.calls()).toBe(1);
    expect(tokens.stats().cooledDown).toBe(2);
    expect(again).toBeInstanceOf(InvalidCredentialsError);
    expect(again).not.toBe(first);
    expect(other).not.toBe(again);
    expect(first?.provider).toBe('a');
    expect(again?.provider).toBe('a');
    expect(other?.provider).toBe('b');
    // The first caller's error was not changed by what came after.
    expect(first?.provider).toBe('a');
  });

  it('an error cannot be re-labelled by assignment', () => {
    const error = new InvalidCredentialsError('refused', { provider: 'a' });
    expect(() => {
      (error as { provider: string }).provider = 'b';
    }).toThrow(TypeError);
    const copy = error.forProvider('b');
    expect(copy).toBeInstanceOf(InvalidCredentialsError);
    expect([error.provider, copy.provider]).toEqual(['a', 'b']);
    expect(copy.stack).toBe(error.stack);
  });

  it('a closed manager throws ManagerClosedError, not ConfigError', async () => {
    const fake = fakeProvider();
    tokens = createTokenManager({ providers: { a: fake.provider } });
    await tokens.close();
    const error = await tokens.getToken('a').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ManagerClosedError);
    expect(error).not.toBeInstanceOf(ConfigError);
    expect((error as TokenError).code).toBe('closed');
    expect(() => tokens!.register('b', fake.provider)).toThrow(ManagerClosedError);
  });

  it('an unknown provider id throws UnknownProviderError (code unknown_provider), not ConfigError, from every method', async () => {
    tokens = createTokenManager({ providers: { a: fakeProvider().provider } });
    const error = await tokens.getToken('b').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownProviderError);
    expect(error).not.toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ code: 'unknown_provider', provider: 'b', message: 'No provider is registered as "b"' });
    await expect(tokens.getAuthorizationHeader('b')).rejects.toBeInstanceOf(UnknownProviderError);
    expect(() => tokens!.client('b')).toThrow(UnknownProviderError);
    expect(() => tokens!.fetch('b')).toThrow(UnknownProviderError);
    expect(() => tokens!.invalidate('b')).toThrow(UnknownProviderError);
  });
});
