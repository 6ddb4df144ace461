import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/base/errors.js';
import { alternativePayments } from '../../src/providers/alternative-payments.js';
import { autopay } from '../../src/providers/autopay.js';
import { alternativePayments as fromIndex, autopay as autopayFromIndex, oauth2 as oauth2FromIndex } from '../../src/providers/index.js';
import { oauth2 } from '../../src/providers/oauth2/index.js';

const SECRET = 'tb-test-secret-Zq9!x';

/** The ConfigError `build` throws. */
function configError(build: () => unknown): ConfigError {
  try {
    build();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  return expect.fail('expected a ConfigError');
}

function paths(error: ConfigError): string[] {
  return error.issues.map((issue) => issue.path);
}

describe('provider options', () => {
  it('names a missing secret', () => {
    const error = configError(() => alternativePayments({ clientId: 'id' } as never));
    expect(paths(error)).toEqual(['alternativePayments.clientSecret']);
    expect(error.issues[0]!.message).toBe('is required');
    expect(paths(configError(() => autopay({ clientId: 'id' } as never)))).toEqual(['autopay.clientSecret']);
    expect(paths(configError(() => oauth2({ tokenUrl: 'https://a.example/t', clientId: 'id' } as never)))).toEqual(['oauth2.clientSecret']);
  });

  it('names an empty client id', () => {
    const error = configError(() => alternativePayments({ clientId: '', clientSecret: SECRET }));
    expect(paths(error)).toEqual(['alternativePayments.clientId']);
    expect(paths(configError(() => autopay({ clientId: '', clientSecret: SECRET })))).toEqual(['autopay.clientId']);
  });

  it('refuses a colon in an Alternative Payments client id (Basic credentials cannot carry it)', () => {
    expect(paths(configError(() => alternativePayments({ clientId: 'a:b', clientSecret: SECRET })))).toEqual(['alternativePayments.clientId']);
  });

  it('refuses http:// to a non-loopback host and accepts it to loopback', () => {
    expect(paths(configError(() => alternativePayments({ clientId: 'id', clientSecret: SECRET, baseUrl: 'http://ap.example.com' })))).toEqual([
      'alternativePayments.baseUrl',
    ]);
    expect(paths(configError(() => autopay({ clientId: 'id', clientSecret: SECRET, tokenUrl: 'http://auth.example.com/t' })))).toEqual(['autopay.tokenUrl']);
    expect(paths(configError(() => oauth2({ issuer: 'http://10.0.0.1', clientId: 'id', clientSecret: SECRET })))).toEqual(['oauth2.issuer']);
    expect(paths(configError(() => oauth2({ tokenUrl: 'ftp://x.example/t', clientId: 'id', clientSecret: SECRET })))).toEqual(['oauth2.tokenUrl']);

    expect(() => alternativePayments({ clientId: 'id', clientSecret: SECRET, baseUrl: 'http://127.0.0.1:8080' })).not.toThrow();
    expect(() => autopay({ clientId: 'id', clientSecret: SECRET, tokenUrl: 'http://localhost:8080/t', apiBaseUrl: 'http://[::1]:8080' })).not.toThrow();
    expect(() => oauth2({ tokenUrl: 'http://127.0.0.2:9/t', clientId: 'id', clientSecret: SECRET })).not.toThrow();
  });

  it('names an unknown environment', () => {
    const error = configError(() => alternativePayments({ clientId: 'id', clientSecret: SECRET, environment: 'staging' as never }));
    expect(paths(error)).toEqual(['alternativePayments.environment']);
    expect(error.message).toContain('"production", "demo"');
  });

  it('names an unknown option', () => {
    for (const build of [
      () => alternativePayments({ clientId: 'id', clientSecret: SECRET, clientSecrte: 'x' } as never),
      () => autopay({ clientId: 'id', clientSecret: SECRET, clientSecrte: 'x' } as never),
      () => oauth2({ tokenUrl: 'https://a.example/t', clientId: 'id', clientSecret: SECRET, clientSecrte: 'x' } as never),
    ]) {
      const error = configError(build);
      expect(error.issues).toHaveLength(1);
      expect(error.message).toContain('clientSecrte');
    }
  });

  it('lists every problem at once and never quotes the secret', () => {
    const error = configError(() =>
      oauth2({
        clientId: '',
        clientSecret: SECRET,
        authMethod: SECRET as never,
        scope: '',
        defaultExpiresInSeconds: -1,
        apiBaseUrl: `http://user:${SECRET}@api.example.com`,
      }),
    );
    expect(paths(error).sort()).toEqual(
      ['oauth2.apiBaseUrl', 'oauth2.authMethod', 'oauth2.clientId', 'oauth2.defaultExpiresInSeconds', 'oauth2.scope', 'oauth2.tokenUrl'].sort(),
    );
    expect(error.message).not.toContain(SECRET);
    expect(JSON.stringify(error)).not.toContain(SECRET);

    const wrongType = configError(() => alternativePayments({ clientId: 'id', clientSecret: 42 } as never));
    expect(paths(wrongType)).toEqual(['alternativePayments.clientSecret']);
    expect(configError(() => alternativePayments(undefined as never)).issues).toHaveLength(1);
  });

  it('is re-exported from the providers index', () => {
    expect(fromIndex).toBe(alternativePayments);
    expect(autopayFromIndex).toBe(autopay);
    expect(oauth2FromIndex).toBe(oauth2);
  });
});
