import { describe, expect, it } from 'vitest';
import { alternativePayments } from '../../src/providers/alternative-payments.js';
import { autopay } from '../../src/providers/autopay.js';
import { oauth2 } from '../../src/providers/oauth2/index.js';

const SECRET = 'tb-test-secret-Zq9!x';
const OTHER = 'tb-test-secret-rotated';

describe('cacheKey', () => {
  it('is stable for the same credential', () => {
    expect(alternativePayments({ clientId: 'id', clientSecret: SECRET }).cacheKey).toBe(
      alternativePayments({ clientId: 'id', clientSecret: SECRET, environment: 'production' }).cacheKey,
    );
    expect(autopay({ clientId: 'id', clientSecret: SECRET }).cacheKey).toBe(
      autopay({ clientId: 'id', clientSecret: SECRET, audience: 'https://api.autopay.io' }).cacheKey,
    );
  });

  it('differs for a different secret (a rotated secret gets a new key)', () => {
    expect(alternativePayments({ clientId: 'id', clientSecret: SECRET }).cacheKey).not.toBe(
      alternativePayments({ clientId: 'id', clientSecret: OTHER }).cacheKey,
    );
    expect(autopay({ clientId: 'id', clientSecret: SECRET }).cacheKey).not.toBe(autopay({ clientId: 'id', clientSecret: OTHER }).cacheKey);
    const tokenUrl = 'https://auth.example.com/token';
    expect(oauth2({ tokenUrl, clientId: 'id', clientSecret: SECRET }).cacheKey).not.toBe(oauth2({ tokenUrl, clientId: 'id', clientSecret: OTHER }).cacheKey);
  });

  it('differs for a different client id', () => {
    expect(autopay({ clientId: 'a', clientSecret: SECRET }).cacheKey).not.toBe(autopay({ clientId: 'b', clientSecret: SECRET }).cacheKey);
  });

  it('differs between demo, production and a custom base URL', () => {
    const keys = new Set([
      alternativePayments({ clientId: 'id', clientSecret: SECRET }).cacheKey,
      alternativePayments({ clientId: 'id', clientSecret: SECRET, environment: 'demo' }).cacheKey,
      alternativePayments({ clientId: 'id', clientSecret: SECRET, baseUrl: 'http://127.0.0.1:4010' }).cacheKey,
    ]);
    expect(keys.size).toBe(3);
  });

  it('differs for a different audience or token URL', () => {
    const keys = new Set([
      autopay({ clientId: 'id', clientSecret: SECRET }).cacheKey,
      autopay({ clientId: 'id', clientSecret: SECRET, audience: 'https://staging.autopay.io' }).cacheKey,
      autopay({ clientId: 'id', clientSecret: SECRET, tokenUrl: 'http://127.0.0.1:4020/oauth/token' }).cacheKey,
    ]);
    expect(keys.size).toBe(3);
  });

  it('differs for a different scope, audience, resource, extra parameter or auth method', () => {
    const base = { tokenUrl: 'https://auth.example.com/token', clientId: 'id', clientSecret: SECRET };
    const keys = [
      oauth2(base).cacheKey,
      oauth2({ ...base, scope: 'read' }).cacheKey,
      oauth2({ ...base, scope: 'read write' }).cacheKey,
      oauth2({ ...base, audience: 'https://api.example.com' }).cacheKey,
      oauth2({ ...base, resource: 'https://api.example.com' }).cacheKey,
      oauth2({ ...base, extraParams: { tenant: 'a' } }).cacheKey,
      oauth2({ ...base, extraParams: { tenant: 'b' } }).cacheKey,
      oauth2({ ...base, tokenUrl: 'https://auth.example.com/other' }).cacheKey,
      oauth2({ ...base, authMethod: 'client_secret_post' }).cacheKey,
      oauth2({ ...base, authMethod: 'client_secret_basic' }).cacheKey,
      oauth2({ ...base, resource: ['https://api.example.com', 'https://b.example.com'] }).cacheKey,
    ];
    expect(new Set(keys).size).toBe(keys.length);
    expect(oauth2({ ...base, extraParams: { a: '1', b: '2' } }).cacheKey).toBe(oauth2({ ...base, extraParams: { b: '2', a: '1' } }).cacheKey);
  });

  it('never contains the secret in any form', () => {
    const keys = [
      alternativePayments({ clientId: 'id', clientSecret: SECRET }).cacheKey,
      autopay({ clientId: 'id', clientSecret: SECRET }).cacheKey,
      oauth2({ issuer: 'https://issuer.example.com', clientId: 'id', clientSecret: SECRET }).cacheKey,
    ];
    for (const key of keys) {
      for (const form of [SECRET, encodeURIComponent(SECRET), Buffer.from(SECRET).toString('base64'), Buffer.from(SECRET).toString('base64url')]) {
        expect(key).not.toContain(form);
      }
    }
    expect(keys[0]).toMatch(/^alternative-payments:/);
    expect(keys[1]).toMatch(/^autopay:/);
    expect(keys[2]).toMatch(/^oauth2:/);
  });
});
