/**
 * oauth2() against oauth2-mock-server 9.3.0: RFC 8414 discovery, metadata refreshed after a failure
 * and on its maximum age, the server's auth methods, several `resource`s and repeated extra
 * parameters, and one transport (`fetch` + `dispatcher`) for every request (issue 14, findings 3–5).
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { Agent, EnvHttpProxyAgent, ProxyAgent, fetch as undiciFetch } from 'undici';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidTokenResponseError } from '../../src/base/errors.js';
import { createTokenManager, type TokenManager } from '../../src/core/manager.js';
import { oauth2 } from '../../src/providers/oauth2/index.js';
import { forgetSharedState } from '../../src/providers/oauth2/profile.js';
import { context, rejectionOf } from '../providers/helpers.js';
import { startMockServer } from './servers.js';

type Mock = Awaited<ReturnType<typeof startMockServer>>;
const CREDENTIALS = { clientId: 'mock-client', clientSecret: 'mock-secret' };

describe('oauth2 × oauth2-mock-server', () => {
  let mock: Mock;
  let tokens: TokenManager | undefined;
  const closers: (() => Promise<void>)[] = [];
  beforeEach(() => forgetSharedState());
  afterEach(async () => {
    vi.useRealTimers();
    await tokens?.close();
    tokens = undefined;
    for (const close of closers.splice(0)) await close();
    await mock.close();
  });

  it('discovers an RFC 8414-only server (/.well-known/oauth-authorization-server)', async () => {
    mock = await startMockServer({ rfc8414: true });
    const openid = await fetch(`${mock.url}/.well-known/openid-configuration`);
    expect(openid.status).toBe(404); // nothing at the OpenID address
    tokens = createTokenManager({ providers: { mock: oauth2({ issuer: mock.url, ...CREDENTIALS }) } });
    const token = await tokens.getToken('mock');
    expect(token.accessToken.split('.')).toHaveLength(3); // the mock signs JWTs
    expect(mock.tokenRequests()).toBe(1);
  });

  it("the server's token_endpoint_auth_methods_supported decides the method", async () => {
    mock = await startMockServer();
    const headers: (string | undefined)[] = [];
    mock.server.service.on('beforeWellKnownOpenIdConfiguration', (response: { body: Record<string, unknown> }) => {
      response.body.token_endpoint_auth_methods_supported = ['private_key_jwt', 'client_secret_post'];
    });
    mock.server.service.on('beforeResponse', (_r: unknown, req: { headers: Record<string, string> }) => headers.push(req.headers.authorization));
    await oauth2({ issuer: mock.url, ...CREDENTIALS }).requestToken(context());
    expect(mock.bodies[0]).toMatchObject({ client_id: 'mock-client', client_secret: 'mock-secret' });
    expect(headers).toEqual([undefined]);
  });

  it('metadata is fetched again after a failed token request', async () => {
    mock = await startMockServer();
    let moved = true;
    mock.server.service.on('beforeWellKnownOpenIdConfiguration', (response: { body: Record<string, unknown> }) => {
      if (moved) response.body.token_endpoint = `${mock.url}/old-token-endpoint`;
      moved = false;
    });
    const provider = oauth2({ issuer: mock.url, ...CREDENTIALS });
    expect(await rejectionOf(provider.requestToken(context()))).toBeInstanceOf(InvalidTokenResponseError);
    await expect(provider.requestToken(context())).resolves.toMatchObject({ body: { token_type: 'bearer' } });
    expect(mock.metadataRequests()).toBe(2);
  });

  it('the manager paces those re-fetches (no request, so no discovery, during the cool-down)', async () => {
    mock = await startMockServer();
    mock.server.service.on('beforeWellKnownOpenIdConfiguration', (response: { body: Record<string, unknown> }) => {
      response.body.token_endpoint = `${mock.url}/old-token-endpoint`;
    });
    tokens = createTokenManager({ failureCooldownMs: 60_000, providers: { mock: oauth2({ issuer: mock.url, ...CREDENTIALS }) } });
    for (let i = 0; i < 5; i++) await tokens.getToken('mock').catch(() => {});
    expect(mock.metadataRequests()).toBe(1);
  });

  it('metadata older than metadataMaxAgeMs is fetched again; younger is reused by every credential', async () => {
    mock = await startMockServer();
    vi.useFakeTimers({ toFake: ['Date'] });
    const one = oauth2({ issuer: mock.url, ...CREDENTIALS, metadataMaxAgeMs: 60_000 });
    const two = oauth2({ issuer: mock.url, clientId: 'other-client', clientSecret: 'other-secret', metadataMaxAgeMs: 60_000 });
    await one.requestToken(context());
    await two.requestToken(context());
    expect(mock.metadataRequests()).toBe(1);
    vi.setSystemTime(Date.now() + 61_000);
    await one.requestToken(context());
    expect(mock.metadataRequests()).toBe(2);
  });

  it('dpop set, a Bearer answer is refused rather than used unbound', async () => {
    mock = await startMockServer();
    const error = await rejectionOf(oauth2({ tokenUrl: `${mock.url}/token`, ...CREDENTIALS, dpop: true }).requestToken(context()));
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expect((error as Error).message).toContain('only a DPoP-bound token is accepted');
    expect(mock.tokenRequests()).toBe(1);
  });

  it('several resources (RFC 8707) and repeated extra parameters', async () => {
    mock = await startMockServer();
    await oauth2({
      tokenUrl: `${mock.url}/token`,
      ...CREDENTIALS,
      resource: ['https://api.example.com/payments', 'https://api.example.com/ledger'],
      extraParams: { claims: ['a', 'b'], tenant: 'acme' },
    }).requestToken(context());
    expect(mock.bodies[0]).toMatchObject({
      resource: ['https://api.example.com/payments', 'https://api.example.com/ledger'],
      claims: ['a', 'b'],
      tenant: 'acme',
    });
  });

  it('item 5: one fetch + dispatcher (an undici ProxyAgent) carries discovery, the token request and tokens.client(id)', async () => {
    mock = await startMockServer();
    const api = await startServer((req, res) => {
      res.writeHead(req.headers.authorization?.startsWith('Bearer ') === true ? 200 : 401, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    closers.push(api.close);
    const proxy = await startConnectProxy();
    closers.push(proxy.close);
    const dispatcher = new ProxyAgent({ uri: proxy.url, proxyTunnel: true });
    // First: its tunnels keep the servers' sockets open.
    closers.unshift(() => dispatcher.destroy());
    tokens = createTokenManager({
      providers: {
        mock: oauth2({ issuer: mock.url, ...CREDENTIALS, apiBaseUrl: `${api.url}/v1/`, fetch: undiciFetch as unknown as typeof fetch, dispatcher }),
      },
    });
    await expect(tokens.client('mock').get('accounts').json()).resolves.toEqual({ ok: true });
    const mockHost = new URL(mock.url).host;
    // Discovery and the token request to the server, the API call to the API: all through the proxy.
    expect(proxy.tunnels).toContain(mockHost);
    expect(proxy.tunnels).toContain(new URL(api.url).host);
    expect(mock.tokenRequests()).toBe(1);
  });

  it('item 5: EnvHttpProxyAgent (what HTTP_PROXY/HTTPS_PROXY/NO_PROXY configure) as dispatcher', async () => {
    mock = await startMockServer();
    const proxy = await startConnectProxy();
    closers.push(proxy.close);
    // Given explicitly here; in an app it reads the environment variables.
    const dispatcher = new EnvHttpProxyAgent({ httpProxy: proxy.url, noProxy: '' });
    closers.unshift(() => dispatcher.destroy());
    const provider = oauth2({ tokenUrl: `${mock.url}/token`, ...CREDENTIALS, fetch: undiciFetch as unknown as typeof fetch, dispatcher });
    await expect(provider.requestToken(context())).resolves.toMatchObject({ body: { expires_in: 3600 } });
    expect(proxy.tunnels.length + proxy.forwarded.length).toBeGreaterThan(0);
  });

  it('item 5: a plain undici Agent as dispatcher works with the matching fetch', async () => {
    mock = await startMockServer();
    const dispatcher = new Agent();
    closers.push(() => dispatcher.close());
    const provider = oauth2({ tokenUrl: `${mock.url}/token`, ...CREDENTIALS, fetch: undiciFetch as unknown as typeof fetch, dispatcher });
    await expect(provider.requestToken(context())).resolves.toMatchObject({ body: { expires_in: 3600 } });
  });
});

async function startServer(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(handler!);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => closeServer(server) };
}

/** A CONNECT proxy on loopback that records the host:port of every tunnel. */
async function startConnectProxy(): Promise<{ url: string; tunnels: string[]; forwarded: string[]; close(): Promise<void> }> {
  const tunnels: string[] = [];
  const forwarded: string[] = [];
  // Plain-HTTP forwarding (absolute-form request targets), for agents that do not tunnel http://.
  const server = createServer((req, res) => {
    forwarded.push(req.url ?? '');
    const target = new URL(req.url ?? '');
    const upstream = httpRequest(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connect', (req, socket, head) => {
    const target = req.url ?? '';
    tunnels.push(target);
    const [host, port] = target.split(':');
    const upstream = connect(Number(port), host!, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, tunnels, forwarded, close: () => closeServer(server) };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
