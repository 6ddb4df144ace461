/**
 * A DPoP-bound oauth2 provider (oidc-provider) behind the broker: calls through the proxy carry a fresh
 * proof each (verified by a loopback resource server with jose, nonce challenge included), an upstream
 * 401 is replayed once with a new token, and raw tokens for it are refused.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createBroker, keyDigest, type Broker } from '../../src/apps/broker/index.js';
import { forgetSharedState } from '../../src/providers/oauth2/profile.js';
import { startDpopResourceServer } from '../interop/dpop-resource-server.js';
import { startOidcProvider } from '../interop/servers.js';

const KEY = 'tbk_dpop_consumer_6a5b4c3d2e1f0a9b8c7d6e5f';
const CLIENT = { grant_types: ['client_credentials'], redirect_uris: [], response_types: [], scope: 'api:read api:write' };

describe('broker proxy × DPoP-bound oauth2 provider', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    forgetSharedState();
  });

  it('proxied calls carry a fresh proof the resource server accepts; GET /v1/tokens/<it> is refused', async () => {
    const oidc = await startOidcProvider([{ ...CLIENT, client_id: 'dpop-client', client_secret: 'dpop-secret-7e6d5c4b', dpop_bound_access_tokens: true }], {
      features: { dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true } },
    });
    closers.push(oidc.close);
    const api = await startDpopResourceServer(oidc);
    closers.push(api.close);
    const logs: string[] = [];
    const broker: Broker = createBroker(
      {
        listen: { host: '127.0.0.1', port: 0 },
        ops: { host: '127.0.0.1', port: 0 },
        store: { type: 'memory' },
        providers: {
          idp: {
            type: 'oauth2',
            issuer: oidc.url,
            clientId: 'dpop-client',
            clientSecretEnv: 'IDP_SECRET',
            scope: 'api:read',
            dpop: true,
            apiBaseUrl: `${api.url}/v1`,
          },
        },
        consumers: [{ name: 'svc', keySha256: keyDigest(KEY), providers: ['idp'] }],
      },
      { env: { IDP_SECRET: 'dpop-secret-7e6d5c4b' }, logDestination: { write: (line: string) => logs.push(line) } },
    );
    closers.push(() => broker.close());
    const url = await broker.listen();
    const headers = { 'x-api-key': KEY };

    const get = await fetch(`${url}/v1/proxy/idp/accounts?page=1`, { headers });
    expect(get.status).toBe(200);
    await expect(get.json()).resolves.toMatchObject({ ok: true, method: 'GET' });
    const post = await fetch(`${url}/v1/proxy/idp/payments`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ amount: 1 }),
    });
    expect(post.status).toBe(200);
    await expect(post.json()).resolves.toMatchObject({ ok: true, method: 'POST', body: { amount: 1 } });
    expect(api.nonceChallenges()).toBe(1);
    expect(new Set(api.jtis).size).toBe(api.jtis.length);

    // The resource server turns the token away once: invalidated, one new token, replayed; the consumer sees 200.
    api.rejectNextToken();
    const replayed = await fetch(`${url}/v1/proxy/idp/accounts`, { headers });
    expect(replayed.status).toBe(200);
    expect(broker.tokens.stats().byProvider.idp!.tokensIssued.invalidated).toBe(1);

    const raw = await fetch(`${url}/v1/tokens/idp`, { headers });
    expect(raw.status).toBe(403);
    const body = (await raw.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('proxy_only');
    expect(body.error.message).toContain('/v1/proxy/idp/');
    expect(JSON.stringify(body)).not.toMatch(/access_token/);
    expect(logs.join('\n')).not.toContain('dpop-secret-7e6d5c4b');
  });
});
