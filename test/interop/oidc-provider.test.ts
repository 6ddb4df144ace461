/**
 * oauth2() against oidc-provider 9.13.3 (OpenID Certified), one configuration per client
 * authentication method: each gets a token and the token is active at the introspection endpoint.
 * DPoP-bound tokens are also used at a loopback resource server that verifies every proof (jose).
 */
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTokenManager, type TokenManager } from '../../src/core/manager.js';
import { DPoPRequiredError, TokenError } from '../../src/base/errors.js';
import { oauth2 } from '../../src/providers/oauth2/index.js';
import { forgetSharedState } from '../../src/providers/oauth2/profile.js';
import { startDpopResourceServer as startResourceServer } from './dpop-resource-server.js';
import { makeCertificates, mtlsFeature, startOidcProvider, type TestCertificates } from './servers.js';

type Oidc = Awaited<ReturnType<typeof startOidcProvider>>;
const MTLS = {
  features: { mTLS: mtlsFeature() },
  clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth'],
};
const CLIENT = { grant_types: ['client_credentials'], redirect_uris: [], response_types: [], scope: 'api:read api:write' };

describe('oauth2 × oidc-provider', () => {
  let oidc: Oidc | undefined;
  let tokens: TokenManager | undefined;
  const closers: (() => Promise<void>)[] = [];
  beforeEach(() => forgetSharedState());
  afterEach(async () => {
    await tokens?.close();
    tokens = undefined;
    for (const close of closers.splice(0)) await close();
    await oidc?.close();
    oidc = undefined;
  });

  async function getAndIntrospect(options: Parameters<typeof oauth2>[0], clientId: string): Promise<void> {
    tokens = createTokenManager({ providers: { idp: oauth2(options) } });
    const token = await tokens.getToken('idp');
    const introspection = await oidc!.introspect(token.accessToken);
    expect(introspection).toMatchObject({ active: true, client_id: clientId, scope: 'api:read' });
    expect(oidc!.tokenRequests()).toBe(1);
  }

  it('client_secret_basic and client_secret_post (discovery; the server lists its methods)', async () => {
    oidc = await startOidcProvider([
      { ...CLIENT, client_id: 'basic-client', client_secret: 'basic-secret', token_endpoint_auth_method: 'client_secret_basic' },
      { ...CLIENT, client_id: 'post-client', client_secret: 'post-secret', token_endpoint_auth_method: 'client_secret_post' },
    ]);
    await getAndIntrospect({ issuer: oidc.url, clientId: 'basic-client', clientSecret: 'basic-secret', scope: 'api:read' }, 'basic-client');
    await tokens!.close();
    tokens = createTokenManager({
      providers: {
        idp: oauth2({ issuer: oidc.url, clientId: 'post-client', clientSecret: 'post-secret', scope: 'api:read', authMethod: 'client_secret_post' }),
      },
    });
    await expect(oidc.introspect((await tokens.getToken('idp')).accessToken)).resolves.toMatchObject({ active: true, client_id: 'post-client' });
  });

  it('private_key_jwt with an RSA key as PEM (RFC 7523)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    oidc = await startOidcProvider([
      {
        ...CLIENT,
        client_id: 'pkjwt-client',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig' }] },
      },
    ]);
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    await getAndIntrospect({ issuer: oidc.url, clientId: 'pkjwt-client', privateKey: pem, keyId: 'k1', scope: 'api:read' }, 'pkjwt-client');
  });

  it('private_key_jwt with an EC key as JWK, PS/ES algorithm chosen from the key', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    oidc = await startOidcProvider([
      { ...CLIENT, client_id: 'ec-client', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicKey.export({ format: 'jwk' })] } },
    ]);
    await getAndIntrospect(
      { tokenUrl: `${oidc.url}/token`, clientId: 'ec-client', privateKey: privateKey.export({ format: 'jwk' }), scope: 'api:read' },
      'ec-client',
    );
  });

  it('client_secret_jwt', async () => {
    const secret = randomBytes(32).toString('hex');
    oidc = await startOidcProvider([{ ...CLIENT, client_id: 'csjwt-client', client_secret: secret, token_endpoint_auth_method: 'client_secret_jwt' }]);
    await getAndIntrospect(
      { issuer: oidc.url, clientId: 'csjwt-client', clientSecret: secret, authMethod: 'client_secret_jwt', scope: 'api:read' },
      'csjwt-client',
    );
  });

  describe('mutual TLS (RFC 8705), oidc-provider behind node:https asking for client certificates', () => {
    let certs: TestCertificates;
    beforeAll(() => {
      certs = makeCertificates();
    });

    it('tls_client_auth with a CA-signed certificate', async () => {
      oidc = await startOidcProvider(
        [{ ...CLIENT, client_id: 'mtls-client', token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=tokenbroker-client' }],
        MTLS,
        certs,
      );
      await getAndIntrospect(
        {
          issuer: oidc.url,
          clientId: 'mtls-client',
          authMethod: 'tls_client_auth',
          tls: { cert: certs.clientCert, key: certs.clientKey, ca: certs.caCert },
          scope: 'api:read',
        },
        'mtls-client',
      );
    });

    it('self_signed_tls_client_auth with a registered self-signed certificate', async () => {
      const x509 = new X509Certificate(certs.selfSignedCert);
      const jwk = { ...x509.publicKey.export({ format: 'jwk' }), x5c: [x509.raw.toString('base64')] };
      oidc = await startOidcProvider(
        [{ ...CLIENT, client_id: 'self-client', token_endpoint_auth_method: 'self_signed_tls_client_auth', jwks: { keys: [jwk] } }],
        MTLS,
        certs,
      );
      await getAndIntrospect(
        {
          tokenUrl: `${oidc.url}/token`,
          clientId: 'self-client',
          authMethod: 'self_signed_tls_client_auth',
          tls: { cert: certs.selfSignedCert, key: certs.selfSignedKey, ca: certs.caCert },
          scope: 'api:read',
        },
        'self-client',
      );
    });

    it('without the certificate the server refuses the client', async () => {
      oidc = await startOidcProvider(
        [{ ...CLIENT, client_id: 'mtls-client', token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=tokenbroker-client' }],
        MTLS,
        certs,
      );
      tokens = createTokenManager({
        providers: {
          idp: oauth2({
            tokenUrl: `${oidc.url}/token`,
            clientId: 'mtls-client',
            authMethod: 'tls_client_auth',
            tls: { cert: certs.selfSignedCert, key: certs.selfSignedKey, ca: certs.caCert },
            scope: 'api:read',
          }),
        },
      });
      await expect(tokens.getToken('idp')).rejects.toMatchObject({ code: 'invalid_credentials', providerCode: 'invalid_client' });
    });
  });

  describe('DPoP (RFC 9449)', () => {
    const dpopFeature = { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true };

    it('gets a DPoP-bound token (answering the token endpoint’s use_dpop_nonce), bound to our key', async () => {
      oidc = await startOidcProvider([{ ...CLIENT, client_id: 'dpop-client', client_secret: 'dpop-secret', dpop_bound_access_tokens: true }], {
        features: { dPoP: dpopFeature },
      });
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      tokens = createTokenManager({
        providers: { idp: oauth2({ issuer: oidc.url, clientId: 'dpop-client', clientSecret: 'dpop-secret', scope: 'api:read', dpop: { privateKey } }) },
      });
      const token = await tokens.getToken('idp');
      const introspection = await oidc.introspect(token.accessToken);
      expect(introspection).toMatchObject({ active: true, client_id: 'dpop-client', token_type: 'DPoP' });
      expect((introspection.cnf as { jkt: string }).jkt).toBe(await calculateJwkThumbprint(publicKey.export({ format: 'jwk' }) as JWK));
      // The first attempt got use_dpop_nonce, the second the token: both within one token request of ours.
      expect(oidc.tokenRequests()).toBe(2);
      expect(tokens.stats().requestsSent).toBe(1);
    });

    it('client(id) sends a fresh proof per request (htm, htu, ath), answers the resource server’s nonce, and rotates once on 401', async () => {
      oidc = await startOidcProvider([{ ...CLIENT, client_id: 'dpop-client', client_secret: 'dpop-secret', dpop_bound_access_tokens: true }], {
        features: { dPoP: dpopFeature },
      });
      const api = await startResourceServer(oidc);
      closers.push(api.close);
      tokens = createTokenManager({
        providers: {
          idp: oauth2({ issuer: oidc.url, clientId: 'dpop-client', clientSecret: 'dpop-secret', scope: 'api:read', dpop: true, apiBaseUrl: `${api.url}/v1/` }),
        },
      });
      const client = tokens.client('idp');
      await expect(client.get('accounts').json()).resolves.toMatchObject({ ok: true, method: 'GET' });
      await expect(client.post('payments', { json: { amount: 1 } }).json()).resolves.toMatchObject({ ok: true, method: 'POST', body: { amount: 1 } });
      expect(api.nonceChallenges()).toBe(1); // answered once; the nonce is then remembered
      expect(new Set(api.jtis).size).toBe(api.jtis.length); // a fresh proof every time

      // Another process with the same DPoP key (here: another provider object that never asked for a
      // token) uses a token it found in a shared store: it is sent DPoP-bound, with its own proof.
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const options = {
        issuer: oidc.url,
        clientId: 'dpop-client',
        clientSecret: 'dpop-secret',
        scope: 'api:read',
        dpop: { privateKey },
        apiBaseUrl: `${api.url}/v1/`,
      };
      const fetcher = createTokenManager({ providers: { idp: oauth2(options) } });
      const stored = await fetcher.getToken('idp');
      await fetcher.close();
      const elsewhere = oauth2(options);
      const answer = await elsewhere.authorizedFetch!(new Request(`${api.url}/v1/accounts`), stored);
      expect(answer.status).toBe(200);

      // The resource server turns the current token away once: invalidated, a new one, one retry.
      api.rejectNextToken();
      await expect(client.get('accounts').json()).resolves.toMatchObject({ ok: true });
      expect(tokens.stats().tokensIssued.invalidated).toBe(1);
    });

    it('a DPoP-bound token says DPoP, getAuthorizationHeader refuses it (never Bearer), and client(id) still works', async () => {
      oidc = await startOidcProvider([{ ...CLIENT, client_id: 'dpop-client', client_secret: 'dpop-secret', dpop_bound_access_tokens: true }], {
        features: { dPoP: dpopFeature },
      });
      const api = await startResourceServer(oidc);
      closers.push(api.close);
      tokens = createTokenManager({
        providers: {
          idp: oauth2({ issuer: oidc.url, clientId: 'dpop-client', clientSecret: 'dpop-secret', scope: 'api:read', dpop: true, apiBaseUrl: `${api.url}/v1/` }),
        },
      });
      // Refused before any token is fetched: nothing to hand out without a proof.
      const refusal = await tokens.getAuthorizationHeader('idp').catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(DPoPRequiredError);
      expect(refusal).toBeInstanceOf(TokenError);
      expect(refusal).toMatchObject({ code: 'dpop_required', provider: 'idp' });
      expect((refusal as Error).message).toMatch(/tokens\.fetch\(id\) or tokens\.client\(id\)/);
      expect(oidc.tokenRequests()).toBe(0);

      const token = await tokens.getToken('idp');
      expect(token.tokenType).toBe('DPoP');
      expect(await oidc.introspect(token.accessToken)).toMatchObject({ active: true, token_type: 'DPoP' });
      // With a token cached, still refused: a header without its proof is never produced.
      await expect(tokens.getAuthorizationHeader('idp')).rejects.toBeInstanceOf(DPoPRequiredError);
      await expect(tokens.getAuthorizationHeader('idp', { forceRefresh: true })).rejects.toBeInstanceOf(DPoPRequiredError);
      await expect(tokens.client('idp').get('accounts').json()).resolves.toMatchObject({ ok: true, method: 'GET' });
      await expect(tokens.fetch('idp')(`${api.url}/v1/accounts`)).resolves.toMatchObject({ status: 200 });
    });
  });
});
