/**
 * The options added by issue 14, validated at construction (synchronously): one ConfigError naming
 * each problem, never quoting a secret or a key; and the cache key covering every option that changes
 * the request or the token (auth method, resource, key thumbprint, DPoP key).
 */
import { generateKeyPairSync } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/base/errors.js';
import { oauth2 } from '../../src/providers/oauth2/index.js';

const TOKEN_URL = 'https://auth.example.com/token';
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

function configError(make: () => unknown): ConfigError {
  try {
    make();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('oauth2 options', () => {
  it('accepts a private key as PEM, JWK or KeyObject, and infers private_key_jwt', () => {
    for (const privateKey of [rsa.export({ format: 'pem', type: 'pkcs8' }).toString(), rsa.export({ format: 'jwk' }), rsa]) {
      expect(() => oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', privateKey })).not.toThrow();
    }
  });

  it('names every problem in one ConfigError and never quotes the key or the secret', () => {
    const garbage = '-----BEGIN PRIVATE KEY-----\nNotAKeyButDistinctive0123456789\n-----END PRIVATE KEY-----';
    const error = configError(() =>
      oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', privateKey: garbage, tls: { cert: 'c', key: 'k' }, dispatcher: {}, authMethod: 'private_key_jwt' }),
    );
    expect(error.issues.map((issue) => issue.path).sort()).toEqual(['oauth2.privateKey', 'oauth2.tls', 'oauth2.tls.cert', 'oauth2.tls.key']);
    expect(`${error.message} ${inspect(error, { depth: Infinity })}`).not.toContain('NotAKeyButDistinctive');
  });

  it('requires what each method needs', () => {
    expect(configError(() => oauth2({ tokenUrl: TOKEN_URL, clientId: 'id' })).issues).toEqual([
      { path: 'oauth2.clientSecret', message: 'is required for authMethod auto' },
    ]);
    expect(configError(() => oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', authMethod: 'private_key_jwt' })).issues[0]!.path).toBe('oauth2.privateKey');
    expect(configError(() => oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', authMethod: 'tls_client_auth' })).issues[0]!.path).toBe('oauth2.tls');
    expect(configError(() => oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', authMethod: 'client_secret_jwt' })).issues[0]!.path).toBe('oauth2.clientSecret');
  });

  it('checks the algorithm against the key', () => {
    expect(configError(() => oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', privateKey: ec, algorithm: 'RS256' })).issues[0]).toMatchObject({
      path: 'oauth2.privateKey',
      message: expect.stringContaining('does not fit algorithm RS256'),
    });
    expect(() => oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', privateKey: rsa, algorithm: 'PS256' })).not.toThrow();
    expect(configError(() => oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', clientSecret: 's', dpop: { privateKey: 'nope' } })).issues[0]!.path).toBe(
      'oauth2.dpop.privateKey',
    );
  });

  it('resource takes one value or several; extraParams values may be arrays; empty arrays are refused', () => {
    expect(() =>
      oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', clientSecret: 's', resource: ['https://a.example', 'https://b.example'], extraParams: { x: ['1', '2'] } }),
    ).not.toThrow();
    expect(configError(() => oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', clientSecret: 's', resource: [] })).issues[0]!.path).toBe('oauth2.resource');
  });

  it('the cache key covers auth method, resources, signing key and DPoP key, and never holds them', () => {
    const base = { tokenUrl: TOKEN_URL, clientId: 'id' };
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const keys = [
      oauth2({ ...base, clientSecret: 's' }).cacheKey,
      oauth2({ ...base, clientSecret: 's', authMethod: 'client_secret_jwt' }).cacheKey,
      oauth2({ ...base, clientSecret: 's', resource: ['https://a.example', 'https://b.example'] }).cacheKey,
      oauth2({ ...base, clientSecret: 's', resource: ['https://b.example', 'https://a.example'] }).cacheKey,
      oauth2({ ...base, privateKey: ec }).cacheKey,
      oauth2({ ...base, privateKey: other }).cacheKey,
      oauth2({ ...base, clientSecret: 's', dpop: { privateKey: ec } }).cacheKey,
      oauth2({ ...base, clientSecret: 's', dpop: { privateKey: other } }).cacheKey,
    ];
    expect(new Set(keys).size).toBe(keys.length);
    // The same key twice is the same credential (a fleet sharing a DPoP key shares tokens).
    expect(oauth2({ ...base, clientSecret: 's', dpop: { privateKey: ec } }).cacheKey).toBe(keys[6]);
    // `dpop: true` makes a key per provider: tokens bound to it are this provider's alone.
    expect(oauth2({ ...base, clientSecret: 's', dpop: true }).cacheKey).not.toBe(oauth2({ ...base, clientSecret: 's', dpop: true }).cacheKey);
  });

  it('shows only the public shape to inspect and JSON', () => {
    const provider = oauth2({ tokenUrl: TOKEN_URL, clientId: 'id', privateKey: ec, dpop: { privateKey: rsa } });
    const jwkD = (ec.export({ format: 'jwk' }) as { d: string }).d;
    for (const view of [inspect(provider, { depth: Infinity, showHidden: true }), JSON.stringify(provider)]) {
      expect(view).not.toContain(jwkD);
      expect(view).not.toContain('PRIVATE KEY');
    }
    expect(Object.isFrozen(provider)).toBe(true);
    expect(provider.kind).toBe('oauth2');
  });
});
