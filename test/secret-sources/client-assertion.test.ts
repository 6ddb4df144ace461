/**
 * Issue 22, acceptance: `oauth2({ clientAssertion })` (RFC 7523 §2.2) against oidc-provider. The
 * assertion is a JWT signed elsewhere (here by the test, as a kubelet signs a projected token): each
 * token request carries the source's current content, replacing the file changes the next request's
 * assertion, the cache key stays the same, and a refused assertion that has since been replaced is
 * answered with the new one at once.
 */
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, createTokenManager, oauth2, secretFile, type TokenManager } from '../../src/index.js';
import { forgetSharedState } from '../../src/providers/oauth2/profile.js';
import { everythingAbout } from '../helpers/leak-scan.js';
import { startOidcProvider } from '../interop/servers.js';

type Oidc = Awaited<ReturnType<typeof startOidcProvider>>;
const CLIENT_ID = 'workload-client';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

let oidc: Oidc;
let dir: string;
let tokens: TokenManager | undefined;
/** The `client_assertion` of every token request, as sent. */
let sent: string[];

beforeAll(async () => {
  oidc = await startOidcProvider([
    {
      client_id: CLIENT_ID,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: 'api:read',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'workload', use: 'sig' }] },
    },
  ]);
  dir = mkdtempSync(join(tmpdir(), 'tb-assertion-'));
});
afterAll(async () => {
  await oidc.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  forgetSharedState();
  sent = [];
});
afterEach(async () => {
  await tokens?.close();
  tokens = undefined;
});

/** A JWT bearer assertion for the client, as a workload identity issuer would sign it. */
function assertion(key: KeyObject = privateKey, expiresInSeconds = 300): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: 'workload' })
    .setIssuer(CLIENT_ID)
    .setSubject(CLIENT_ID)
    .setAudience(oidc.url)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + expiresInSeconds)
    .sign(key);
}

function provider(clientAssertion: Parameters<typeof oauth2>[0]['clientAssertion']) {
  return oauth2({
    issuer: oidc.url,
    clientId: CLIENT_ID,
    clientAssertion,
    scope: 'api:read',
    fetch: async (input, init) => {
      const body = typeof init?.body === 'string' ? init.body : init?.body instanceof URLSearchParams ? init.body.toString() : '';
      const params = new URLSearchParams(body);
      if (params.has('client_assertion')) {
        expect(params.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
        sent.push(params.get('client_assertion')!);
      }
      return globalThis.fetch(input, init);
    },
  });
}

describe('oauth2 clientAssertion against oidc-provider', () => {
  it('from a file: each request carries the file as it is now; replacing the file changes the next one; the key stays', async () => {
    const path = join(dir, 'token');
    const first = await assertion();
    writeFileSync(path, first);
    const idp = provider(secretFile(path));
    const key = idp.cacheKey;
    tokens = createTokenManager({ providers: { idp } });
    const token = await tokens.getToken('idp');
    await expect(oidc.introspect(token.accessToken)).resolves.toMatchObject({ active: true, client_id: CLIENT_ID });
    expect(sent).toEqual([first]);

    // The kubelet (or the SPIFFE helper) writes a new token and swaps it in.
    const second = await assertion();
    writeFileSync(`${path}.new`, `${second}\n`);
    renameSync(`${path}.new`, path);
    const next = await tokens.getToken('idp', { forceRefresh: true });
    await expect(oidc.introspect(next.accessToken)).resolves.toMatchObject({ active: true });
    expect(sent).toEqual([first, second]);
    expect(idp.cacheKey).toBe(key);
    // Warm: no read, no request.
    await tokens.getToken('idp');
    expect(sent).toHaveLength(2);
    expect(everythingAbout(idp)).not.toContain(second);
  });

  it('from a function: called before each token request, never reused (the server refuses a replayed jti)', async () => {
    let calls = 0;
    const idp = provider(async () => {
      calls++;
      return assertion();
    });
    const key = idp.cacheKey;
    tokens = createTokenManager({ providers: { idp } });
    await tokens.getToken('idp');
    await tokens.getToken('idp', { forceRefresh: true });
    await tokens.getToken('idp', { forceRefresh: true });
    expect(calls).toBe(3);
    expect(new Set(sent).size).toBe(3);
    expect(idp.cacheKey).toBe(key);
    expect(oidc.tokenRequests()).toBeGreaterThanOrEqual(3);
  });

  it('a refused assertion that has been replaced since is answered with the new one at once', async () => {
    // First read: an assertion signed by a key the server does not know (a stale identity); the read
    // after the refusal gives the good one.
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    let reads = 0;
    const idp = provider(async () => (++reads === 1 ? assertion(stranger) : assertion()));
    tokens = createTokenManager({ providers: { idp } });
    const token = await tokens.getToken('idp');
    await expect(oidc.introspect(token.accessToken)).resolves.toMatchObject({ active: true });
    expect(sent).toHaveLength(2);
    expect(tokens.stats().failures).toBe(1);
  });

  it('a string is refused: an assertion expires, so it must be read before each request', () => {
    expect(() => oauth2({ tokenUrl: 'https://idp.example/token', clientId: CLIENT_ID, clientAssertion: 'eyJ.e30.x' as never })).toThrow(ConfigError);
    expect(() =>
      oauth2({ tokenUrl: 'https://idp.example/token', clientId: CLIENT_ID, clientAssertion: () => 'x', privateKey: privateKey.export({ format: 'jwk' }) }),
    ).toThrow(/oauth2.clientAssertion: cannot be combined with privateKey/);
    expect(() =>
      oauth2({ tokenUrl: 'https://idp.example/token', clientId: CLIENT_ID, clientAssertion: () => 'x', authMethod: 'client_secret_post', clientSecret: 's' }),
    ).toThrow(/oauth2.clientAssertion: is sent with authMethod private_key_jwt only/);
  });

  it('two providers with the same assertion file share a key; another file is another key', () => {
    const path = join(dir, 'shared');
    writeFileSync(path, 'eyJ.e30.x');
    const other = join(dir, 'other');
    writeFileSync(other, 'eyJ.e30.x');
    expect(provider(secretFile(path)).cacheKey).toBe(provider(secretFile(path)).cacheKey);
    expect(provider(secretFile(path)).cacheKey).not.toBe(provider(secretFile(other)).cacheKey);
  });
});
