/**
 * Acceptance 8: each bad option → ConfigError naming the field.
 */
import { describe, expect, it } from 'vitest';
import { alternativePayments, autopay, ConfigError, createTokenManager, oauth2, UnknownProviderError } from '../src/index.js';
import { fakeProvider } from './helpers/fake-provider.js';

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const paths = (error: ConfigError) => error.issues.map((issue) => issue.path);

describe('configuration errors', () => {
  it('missing secret', () => {
    const error = configError(() => alternativePayments({ clientId: 'id' } as never));
    expect(paths(error)).toContain('alternativePayments.clientSecret');
    expect(error.message).toContain('alternativePayments.clientSecret');
  });

  it('empty secret and empty client id, both reported at once', () => {
    const error = configError(() => autopay({ clientId: '', clientSecret: '' }));
    expect(paths(error)).toEqual(expect.arrayContaining(['autopay.clientId', 'autopay.clientSecret']));
  });

  it('http:// to a non-loopback host', () => {
    expect(paths(configError(() => alternativePayments({ clientId: 'a', clientSecret: 'b', baseUrl: 'http://api.example.com' })))).toContain(
      'alternativePayments.baseUrl',
    );
    expect(paths(configError(() => autopay({ clientId: 'a', clientSecret: 'b', tokenUrl: 'http://auth.example.com/t' })))).toContain('autopay.tokenUrl');
    expect(paths(configError(() => oauth2({ clientId: 'a', clientSecret: 'b', tokenUrl: 'http://10.0.0.1/token' })))).toContain('oauth2.tokenUrl');
  });

  it('http:// to loopback is allowed', () => {
    expect(() => alternativePayments({ clientId: 'a', clientSecret: 'b', baseUrl: 'http://127.0.0.1:8080' })).not.toThrow();
    expect(() => alternativePayments({ clientId: 'a', clientSecret: 'b', baseUrl: 'http://localhost:8080' })).not.toThrow();
  });

  it('unknown environment', () => {
    const error = configError(() => alternativePayments({ clientId: 'a', clientSecret: 'b', environment: 'staging' as never }));
    expect(paths(error)).toContain('alternativePayments.environment');
    expect(error.message).toContain('"production"');
  });

  it('negative durations', () => {
    const error = configError(() =>
      createTokenManager({ skewMs: -1, timeoutMs: -5, invalidCredentialsCooldownMs: -1, retry: { baseDelayMs: -1 }, guard: { windowMs: -1 } }),
    );
    expect(paths(error)).toEqual(
      expect.arrayContaining([
        'createTokenManager.skewMs',
        'createTokenManager.timeoutMs',
        'createTokenManager.invalidCredentialsCooldownMs',
        'createTokenManager.retry.baseDelayMs',
        'createTokenManager.guard.windowMs',
      ]),
    );
  });

  it('unknown options are refused, not ignored', () => {
    expect(paths(configError(() => createTokenManager({ skew: 5 } as never)))).toContain('createTokenManager');
  });

  it('an unknown provider id is not a configuration error: UnknownProviderError names the id', async () => {
    const tokens = createTokenManager({ providers: { p: fakeProvider().provider } });
    const error = await tokens.getToken('nope').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownProviderError);
    expect(error).not.toBeInstanceOf(ConfigError);
    expect((error as UnknownProviderError).message).toContain('"nope"');
    expect(() => tokens.invalidate('nope')).toThrow(UnknownProviderError);
    expect(() => tokens.client('nope')).toThrow(UnknownProviderError);
    await tokens.close();
  });

  it('a provider that is not one', () => {
    expect(paths(configError(() => createTokenManager({ providers: { p: { kind: 'x' } as never } })))).toContain('createTokenManager.providers.p.cacheKey');
  });

  it('messages never quote a secret value', () => {
    const error = configError(() => alternativePayments({ clientId: 'a', clientSecret: 12345 as never, environment: 'tb-zzz-SECRET' as never }));
    expect(error.message).not.toContain('12345');
    expect(error.message).not.toContain('tb-zzz-SECRET');
  });
});
