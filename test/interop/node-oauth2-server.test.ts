/**
 * oauth2() against @node-oauth/oauth2-server 5.3.0, a server that does not form-decode HTTP Basic
 * credentials (issue 14, findings 1, 2 and the 401 half of 5).
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidCredentialsError } from '../../src/base/errors.js';
import { createTokenManager, type TokenManager } from '../../src/core/manager.js';
import { oauth2 } from '../../src/providers/oauth2/index.js';
import { forgetSharedState } from '../../src/providers/oauth2/profile.js';
import { startNodeOAuthServer, type NodeOAuthClient } from './servers.js';

const UUID = randomUUID();
const CLIENTS: NodeOAuthClient[] = [
  { id: 'interop-client', secret: 'interop-secret' },
  { id: UUID, secret: 'tilde~secret_with-marks.' },
  { id: 'team:payments', secret: 'colon-secret' },
];

describe('oauth2 × @node-oauth/oauth2-server', () => {
  let server: Awaited<ReturnType<typeof startNodeOAuthServer>>;
  let tokens: TokenManager | undefined;
  beforeEach(async () => {
    forgetSharedState();
    server = await startNodeOAuthServer(CLIENTS);
  });
  afterEach(async () => {
    await tokens?.close();
    tokens = undefined;
    await server.close();
  });
  const tokenUrl = () => `${server.url}/token`;

  it('ids and secrets with - _ . ~ and UUIDs work with the default auth, in one request each', async () => {
    tokens = createTokenManager({
      providers: {
        plain: oauth2({ tokenUrl: tokenUrl(), clientId: 'interop-client', clientSecret: 'interop-secret' }),
        uuid: oauth2({ tokenUrl: tokenUrl(), clientId: UUID, clientSecret: 'tilde~secret_with-marks.' }),
      },
    });
    const plain = await tokens.getToken('plain');
    const uuid = await tokens.getToken('uuid');
    expect(server.issued.has(plain.accessToken)).toBe(true);
    expect(server.issued.has(uuid.accessToken)).toBe(true);
    // Basic, sent as the server reads it: no percent-encoding of unreserved characters.
    expect(server.seen).toEqual(['interop-client', UUID]);
    expect(server.tokenRequests()).toBe(2);
  });

  it('explicit client_secret_basic leaves unreserved characters as they are', async () => {
    tokens = createTokenManager({
      providers: { uuid: oauth2({ tokenUrl: tokenUrl(), clientId: UUID, clientSecret: 'tilde~secret_with-marks.', authMethod: 'client_secret_basic' }) },
    });
    await expect(tokens.getToken('uuid')).resolves.toMatchObject({ tokenType: 'Bearer' });
  });

  it("item 2: 'auto' falls back to client_secret_post once on a Basic refusal and remembers it per endpoint", async () => {
    tokens = createTokenManager({
      providers: {
        colon: oauth2({ tokenUrl: tokenUrl(), clientId: 'team:payments', clientSecret: 'colon-secret' }),
        plain: oauth2({ tokenUrl: tokenUrl(), clientId: 'interop-client', clientSecret: 'interop-secret' }),
      },
    });
    const token = await tokens.getToken('colon');
    expect(server.issued.has(token.accessToken)).toBe(true);
    // Basic carried "team%3Apayments" (RFC 6749 §2.3.1), which this server does not decode; then the body.
    expect(server.seen).toEqual(['team%3Apayments', 'team:payments']);
    await tokens.getToken('plain');
    // Learnt for the endpoint: the next credential goes straight to client_secret_post.
    expect(server.tokenRequests()).toBe(3);
    expect(tokens.stats().byProvider.colon).toMatchObject({ requestsSent: 1, failures: 0 });
  });

  it("item 2: Basic working for one id is not taken as the endpoint's answer for the next", async () => {
    tokens = createTokenManager({
      providers: {
        plain: oauth2({ tokenUrl: tokenUrl(), clientId: 'interop-client', clientSecret: 'interop-secret' }),
        colon: oauth2({ tokenUrl: tokenUrl(), clientId: 'team:payments', clientSecret: 'colon-secret' }),
      },
    });
    await tokens.getToken('plain');
    const token = await tokens.getToken('colon');
    expect(server.issued.has(token.accessToken)).toBe(true);
    expect(server.seen).toEqual(['interop-client', 'team%3Apayments', 'team:payments']);
  });

  it('item 2: the fallback is counted by the issuance guard (a budget of one stops it)', async () => {
    tokens = createTokenManager({
      guard: { maxTokens: 1 },
      providers: { colon: oauth2({ tokenUrl: tokenUrl(), clientId: 'team:payments', clientSecret: 'colon-secret' }) },
    });
    const error = await tokens.getToken('colon').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidCredentialsError);
    expect(server.tokenRequests()).toBe(1);
  });

  it('switching the auth method is a new credential — not the remembered refusal, and errors name the id that asked', async () => {
    tokens = createTokenManager({ retry: { attempts: 1 } });
    const basic = oauth2({ tokenUrl: tokenUrl(), clientId: 'team:payments', clientSecret: 'colon-secret', authMethod: 'client_secret_basic' });
    tokens.register('basic', basic);
    tokens.register('basic-again', basic);
    const refused = await tokens.getToken('basic').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InvalidCredentialsError);
    expect(refused).toMatchObject({ provider: 'basic' });

    // Same credential under another id: the cool-down answers, under that id, with no request.
    const remembered = await tokens.getToken('basic-again').catch((e: unknown) => e);
    expect(remembered).toMatchObject({ provider: 'basic-again', code: 'invalid_credentials' });
    expect(server.tokenRequests()).toBe(1);

    tokens.register('post', oauth2({ tokenUrl: tokenUrl(), clientId: 'team:payments', clientSecret: 'colon-secret', authMethod: 'client_secret_post' }));
    const token = await tokens.getToken('post');
    expect(server.issued.has(token.accessToken)).toBe(true);
    expect(server.tokenRequests()).toBe(2);
  });

  it('item 8: ids sharing one credential that fail together each get the error under their own id', async () => {
    tokens = createTokenManager({ retry: { attempts: 1 } });
    const basic = oauth2({ tokenUrl: tokenUrl(), clientId: 'team:payments', clientSecret: 'colon-secret', authMethod: 'client_secret_basic' });
    tokens.register('first', basic);
    tokens.register('second', basic);
    const [first, second] = await Promise.all([tokens.getToken('first').catch((e: unknown) => e), tokens.getToken('second').catch((e: unknown) => e)]);
    expect(first).toMatchObject({ provider: 'first', code: 'invalid_credentials' });
    expect(second).toMatchObject({ provider: 'second', code: 'invalid_credentials' });
    expect(second).toBeInstanceOf(InvalidCredentialsError);
    expect(server.tokenRequests()).toBe(1);
  });

  it('a 401 with a `Basic realm` challenge keeps the body’s invalid_client as providerCode', async () => {
    tokens = createTokenManager({
      providers: { wrong: oauth2({ tokenUrl: tokenUrl(), clientId: 'interop-client', clientSecret: 'not-the-secret', authMethod: 'client_secret_basic' }) },
    });
    const error = await tokens.getToken('wrong').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidCredentialsError);
    expect(error).toMatchObject({ status: 401, providerCode: 'invalid_client', provider: 'wrong' });
  });

  it('1,000 concurrent cold callers → one token request', async () => {
    tokens = createTokenManager({ providers: { plain: oauth2({ tokenUrl: tokenUrl(), clientId: 'interop-client', clientSecret: 'interop-secret' }) } });
    const all = await Promise.all(Array.from({ length: 1000 }, () => tokens!.getToken('plain')));
    expect(new Set(all.map((t) => t.accessToken)).size).toBe(1);
    expect(server.tokenRequests()).toBe(1);
  });
});
