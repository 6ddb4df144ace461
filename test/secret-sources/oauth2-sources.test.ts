/**
 * Issue 22: `oauth2()` keys and certificates from files and functions. A `private_key_jwt` key file
 * replaced on disk is used for the next token (oidc-provider knows both keys, as during a rollover),
 * and its thumbprint moves the credential to a new cache key; a file that stops being a key keeps the
 * last good one and the error names the field; mutual-TLS certificate and key from functions are read
 * before the first request.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ConfigError, createTokenManager, oauth2, secretFile } from '../../src/index.js';
import { everythingAbout } from '../helpers/leak-scan.js';
import { makeCertificates, startOidcProvider } from '../interop/servers.js';

const CLIENT_ID = 'rolling-key-client';
const first = generateKeyPairSync('rsa', { modulusLength: 2048 });
const second = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = (key: typeof first.privateKey) => key.export({ format: 'pem', type: 'pkcs8' }).toString();
let oidc: Awaited<ReturnType<typeof startOidcProvider>>;
let dir: string;

beforeAll(async () => {
  oidc = await startOidcProvider([
    {
      client_id: CLIENT_ID,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: 'api:read',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [first.publicKey.export({ format: 'jwk' }), second.publicKey.export({ format: 'jwk' })] },
    },
  ]);
  dir = mkdtempSync(join(tmpdir(), 'tb-oauth2-sources-'));
});
afterAll(async () => {
  await oidc.close();
  rmSync(dir, { recursive: true, force: true });
});

it('a private_key_jwt key file replaced on disk signs the next token request; the key moves; a broken file keeps the last good key', async () => {
  const path = join(dir, 'signing.pem');
  writeFileSync(path, pem(first.privateKey));
  const idp = oauth2({ issuer: oidc.url, clientId: CLIENT_ID, privateKey: secretFile(path), scope: 'api:read' });
  const tokens = createTokenManager({ providers: { idp } });
  try {
    await expect(oidc.introspect((await tokens.getToken('idp')).accessToken)).resolves.toMatchObject({ active: true });
    const firstKey = idp.cacheKey;
    writeFileSync(`${path}.new`, pem(second.privateKey));
    renameSync(`${path}.new`, path);
    const next = await tokens.getToken('idp', { forceRefresh: true });
    await expect(oidc.introspect(next.accessToken)).resolves.toMatchObject({ active: true, client_id: CLIENT_ID });
    expect(idp.cacheKey).not.toBe(firstKey);
    expect(tokens.stats().failures).toBe(0);

    const secondKey = idp.cacheKey;
    writeFileSync(path, 'not a key');
    const error = await idp.readSecrets!(() => {}).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([{ path: 'oauth2.privateKey', message: 'is not a private key (PEM, JWK or KeyObject)' }]);
    expect(idp.cacheKey).toBe(secondKey);
    expect(everythingAbout(idp)).not.toContain(pem(second.privateKey).split('\n')[1]!);
  } finally {
    await tokens.close();
  }
});

it('mutual-TLS certificate and key from functions: unread until the first token request, then part of the key', async () => {
  const certs = makeCertificates();
  let reads = 0;
  const options = { tokenUrl: 'https://127.0.0.1:1/token', clientId: 'mtls', authMethod: 'tls_client_auth' as const };
  const byFunction = oauth2({
    ...options,
    tls: {
      cert: () => {
        reads++;
        return certs.clientCert;
      },
      key: async () => certs.clientKey,
    },
  });
  const byValue = oauth2({ ...options, tls: { cert: certs.clientCert, key: certs.clientKey } });
  expect(reads).toBe(0);
  expect(byFunction.cacheKey).not.toBe(byValue.cacheKey);
  expect(await byFunction.readSecrets!(() => {})).toBe(true);
  expect(reads).toBe(1);
  expect(byFunction.cacheKey).toBe(byValue.cacheKey);
  expect(await byFunction.readSecrets!(() => {})).toBe(false);
});
