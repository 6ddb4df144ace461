/**
 * Real OAuth 2.0 servers this project did not write, each started in the test process on 127.0.0.1
 * with a random port: @node-oauth/oauth2-server (behind node:http), oauth2-mock-server, and
 * oidc-provider (over node:http, or node:https asking for client certificates for mTLS).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import OAuth2Server, { Request as OAuthRequest, Response as OAuthResponse } from '@node-oauth/oauth2-server';
import { OAuth2Server as MockServer } from 'oauth2-mock-server';
import Provider, { type ClientMetadata, type Configuration } from 'oidc-provider';
import type { TestCertificates } from './certificates.js';

export { makeCertificates, type TestCertificates } from './certificates.js';

/** What every started server gives the test. */
export interface Started {
  readonly url: string;
  /** Token requests received. */
  readonly tokenRequests: () => number;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closer(server: Server): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
}

// ---------------------------------------------------------------------------------------------------
// @node-oauth/oauth2-server

/** One client of the @node-oauth/oauth2-server model. */
export interface NodeOAuthClient {
  readonly id: string;
  readonly secret: string;
}

/**
 * @node-oauth/oauth2-server with an in-memory model, client credentials grant only. Its Basic parser
 * (`basic-auth`) does not form-decode the id and secret, as many servers in the wild.
 */
export async function startNodeOAuthServer(clients: readonly NodeOAuthClient[]): Promise<Started & { issued: Set<string>; seen: string[] }> {
  const issued = new Set<string>();
  const seen: string[] = [];
  const oauth = new OAuth2Server({
    model: {
      getClient: async (clientId: string, clientSecret: string) => {
        seen.push(clientId);
        const client = clients.find((c) => c.id === clientId && c.secret === clientSecret);
        return client === undefined ? false : { id: client.id, grants: ['client_credentials'] };
      },
      getUserFromClient: async (client: { id: string }) => ({ id: `service:${client.id}` }),
      saveToken: async (token: { accessToken: string }, client: unknown, user: unknown) => {
        issued.add(token.accessToken);
        return { ...token, client, user };
      },
      getAccessToken: async () => false,
    } as never,
    accessTokenLifetime: 3600,
  });
  let tokenRequests = 0;
  const server = createHttpServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      if (req.method !== 'POST' || req.url !== '/token') return send(res, 404, { error: 'not_found' });
      tokenRequests++;
      const request = new OAuthRequest({
        method: req.method,
        headers: req.headers as Record<string, string>,
        query: {},
        body: Object.fromEntries(new URLSearchParams(body)),
      });
      const response = new OAuthResponse({ headers: {} });
      try {
        await oauth.token(request, response, { requireClientAuthentication: { client_credentials: true } });
      } catch {
        // The library has written the error to `response` (status, body, WWW-Authenticate).
      }
      res.writeHead(response.status ?? 500, { ...(response.headers as Record<string, string>), 'content-type': 'application/json' });
      res.end(JSON.stringify(response.body ?? {}));
    })();
  });
  const host = await listen(server);
  return { url: `http://${host}`, tokenRequests: () => tokenRequests, close: closer(server), issued, seen };
}

// ---------------------------------------------------------------------------------------------------
// oauth2-mock-server

/** oauth2-mock-server; `rfc8414` publishes its metadata only at `/.well-known/oauth-authorization-server`. */
export async function startMockServer(
  options: { rfc8414?: boolean } = {},
): Promise<Started & { server: MockServer; bodies: Record<string, unknown>[]; metadataRequests: () => number }> {
  const server = new MockServer(
    undefined,
    undefined,
    options.rfc8414 === true ? { endpoints: { wellKnownDocument: '/.well-known/oauth-authorization-server' } } : undefined,
  );
  await server.issuer.keys.generate('RS256');
  const bodies: Record<string, unknown>[] = [];
  let metadataRequests = 0;
  server.service.on('beforeResponse', (_response: unknown, req: IncomingMessage & { body?: Record<string, unknown> }) => {
    bodies.push(req.body ?? {});
  });
  server.service.on('beforeWellKnownOpenIdConfiguration', () => {
    metadataRequests++;
  });
  await server.start(0, '127.0.0.1');
  const url = server.issuer.url!;
  return { url, server, bodies, tokenRequests: () => bodies.length, metadataRequests: () => metadataRequests, close: () => server.stop() };
}

// ---------------------------------------------------------------------------------------------------
// oidc-provider

const SIGNING_JWK = { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid: 'oidc-test', use: 'sig', alg: 'RS256' };

/** oidc-provider with the client credentials grant and introspection on; more features by `configuration`. */
export async function startOidcProvider(
  clients: ClientMetadata[],
  configuration: Configuration = {},
  tls?: TestCertificates,
): Promise<Started & { provider: Provider; introspect(token: string, extra?: Record<string, string>): Promise<Record<string, unknown>> }> {
  // The introspection client is the test's own, so the client under test is never its own witness.
  const introspector = { client_id: 'introspector', client_secret: randomBytes(24).toString('hex') };
  let tokenRequests = 0;
  const server =
    tls === undefined
      ? createHttpServer()
      : createHttpsServer({ cert: tls.serverCert, key: tls.serverKey, ca: tls.caCert, requestCert: true, rejectUnauthorized: false });
  const host = await listen(server);
  const issuer = `${tls === undefined ? 'http' : 'https'}://${host}`;
  const provider = new Provider(issuer, {
    clients: [...clients, { ...introspector, grant_types: [], redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_basic' }],
    scopes: ['api:read', 'api:write'],
    // Its own signing key and token lifetime, so it does not warn about development defaults.
    jwks: { keys: [SIGNING_JWK] },
    ttl: { ClientCredentials: 600 },
    ...configuration,
    features: {
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async () => true },
      devInteractions: { enabled: false },
      ...configuration.features,
    },
  });
  provider.on('grant.success', () => {});
  const callback = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'POST' && req.url === '/token') tokenRequests++;
    callback(req, res);
  });
  return {
    url: issuer,
    provider,
    tokenRequests: () => tokenRequests,
    close: closer(server),
    async introspect(token, extra = {}) {
      const send = tls === undefined ? fetch : await trustingFetch(tls);
      const response = await send(`${issuer}/token/introspection`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${introspector.client_id}:${introspector.client_secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token, ...extra }).toString(),
      });
      return (await response.json()) as Record<string, unknown>;
    },
  };
}

/** mTLS settings for oidc-provider: the certificate comes from the TLS socket. */
export function mtlsFeature(): Record<string, unknown> {
  type Context = { socket: TLSSocket };
  const peer = (ctx: Context) => ctx.socket.getPeerX509Certificate?.();
  return {
    enabled: true,
    tlsClientAuth: true,
    selfSignedTlsClientAuth: true,
    getCertificate: (ctx: Context) => peer(ctx)?.toString(),
    certificateAuthorized: (ctx: Context) => ctx.socket.authorized,
    certificateSubjectMatches: (ctx: Context, property: string, expected: string) =>
      property === 'tls_client_auth_subject_dn' && peer(ctx)?.subject === expected,
  };
}

/** undici's fetch trusting the test CA, for the test's own calls to the https server. */
async function trustingFetch(
  tls: TestCertificates,
): Promise<(url: string, init: { method: string; headers: Record<string, string>; body: string }) => Promise<Response>> {
  const { Agent, fetch: undiciFetch } = await import('undici');
  const dispatcher = new Agent({ connect: { ca: tls.caCert } });
  return async (url, init) => (await undiciFetch(url, { ...init, dispatcher })) as unknown as Response;
}

// ---------------------------------------------------------------------------------------------------

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
