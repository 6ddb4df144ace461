/**
 * 4. Memory, one subject per process (started by main.ts with `--expose-gc`): heapUsed after full GCs,
 * before and after registering and warming N credentials, divided by N. Token answers come in-process
 * (no sockets, no HTTP buffers in the figure); each credential has its own id and its own 56-character
 * access token, as on the wire. Prints one JSON line: MemoryResult.
 *
 * Two rules keep the figure a per-credential cost, the same for every subject:
 * - This file runs under Node's own type stripping, not tsx, and tokenbroker is the built package
 *   (`tokenbroker` resolves to dist/ by the package's self-reference). tsx compiles with esbuild's
 *   `keepNames`, which defines a `name` on every function it creates; that turns each per-credential
 *   closure in this file (a `defineProvider` requestToken, @badgateway's `getNewToken`) into an object
 *   with a 256-byte property dictionary, charged to the subject.
 * - Each subject first runs once at full size and is dropped before the baseline is read, so what a
 *   process grows once (optimised code, V8's number-string cache, the tables of undici's and
 *   AbortSignal.any's FinalizationRegistries after 10,000 requests) is not divided among the credentials.
 */
import { randomBytes } from 'node:crypto';
import type { INetworkModule, NetworkResponse } from '@azure/msal-node';
import { OAuth2Client as BadgatewayClient, OAuth2Fetch } from '@badgateway/oauth2-client';
import { OAuth2Client as GoogleClient } from 'google-auth-library';
import { alternativePayments, autopay, createTokenManager, defineProvider, oauth2, type Provider } from 'tokenbroker';
import { msalApplication } from './msal-app.ts';
import { settledHeap } from './settled-heap.ts';

/** The secret every subject's credentials use (a constant, so no subject pays for a string of its own). */
const CLIENT_SECRET = 'bench-secret';

export interface MemoryResult {
  readonly name: string;
  readonly credentials: number;
  readonly bytesPerCredential: number;
  readonly heapBefore: number;
  readonly heapAfter: number;
  /** tokenbroker only: where the bytes go, per credential. */
  readonly breakdown?: { providers: number; registrations: number; cachedTokens: number };
}

const subject = process.argv[2] ?? 'floor';
const N = Number(process.argv[3] ?? 10_000);

const tokenBody = () => ({ access_token: randomBytes(28).toString('hex'), token_type: 'Bearer', expires_in: 3600 });
const tokenJson = () => JSON.stringify(tokenBody());
const ids = Array.from({ length: N }, (_, i) => `client-${String(i).padStart(5, '0')}`);

// The built-in providers send real HTTP requests (ky through the global fetch, oauth2() through its
// `fetch` option): both are answered in-process.
const inProcessTokenFetch = async () => new Response(tokenJson(), { headers: { 'content-type': 'application/json' } });
globalThis.fetch = inProcessTokenFetch;

/** tokenbroker's subjects: the provider each one makes per credential. */
const TOKENBROKER_PROVIDERS: Record<string, (id: string) => Provider> = {
  tokenbroker: (id) =>
    defineProvider({
      kind: 'oauth2',
      tokenUrl: 'https://auth.example.test/oauth2/token',
      clientId: id,
      clientSecret: CLIENT_SECRET,
      requestToken: async () => ({ body: JSON.parse(tokenJson()) as unknown }),
    }),
  'tokenbroker alternativePayments': (id) => alternativePayments({ clientId: id, clientSecret: CLIENT_SECRET, baseUrl: 'https://ap.example.test' }),
  'tokenbroker autopay': (id) => autopay({ clientId: id, clientSecret: CLIENT_SECRET, tokenUrl: 'https://auth.example.test/oauth/token' }),
  'tokenbroker oauth2': (id) =>
    oauth2({ tokenUrl: 'https://auth.example.test/oauth2/token', clientId: id, clientSecret: CLIENT_SECRET, fetch: inProcessTokenFetch }),
};

async function warmManager(list: readonly string[], make: (id: string) => Provider) {
  const tokens = createTokenManager(); // memoryStore() by default, max 10 000
  for (const id of list) tokens.register(id, make(id));
  for (let i = 0; i < list.length; i += 100) await Promise.all(list.slice(i, i + 100).map((id) => tokens.getToken(id)));
  return tokens;
}

/** How each subject makes and warms its credentials. */
const setups: Record<string, (ids: readonly string[]) => Promise<unknown>> = {
  ...Object.fromEntries(Object.entries(TOKENBROKER_PROVIDERS).map(([name, make]) => [name, (list: readonly string[]) => warmManager(list, make)])),
  async floor(list) {
    const map = new Map<string, { accessToken: string; tokenType: 'Bearer'; expiresAt: number; issuedAt: number }>();
    for (const id of list) {
      const body = JSON.parse(tokenJson()) as { access_token: string; expires_in: number };
      const now = Date.now();
      map.set(id, { accessToken: body.access_token, tokenType: 'Bearer', expiresAt: now + body.expires_in * 1000, issuedAt: now });
    }
    return map;
  },
  async '@badgateway/oauth2-client'(list) {
    const inProcessFetch = async () => new Response(tokenJson(), { headers: { 'content-type': 'application/json' } });
    const wrappers = list.map((id) => {
      const client = new BadgatewayClient({
        tokenEndpoint: 'https://auth.example.test/oauth2/token',
        clientId: id,
        clientSecret: CLIENT_SECRET,
        fetch: inProcessFetch,
      });
      return new OAuth2Fetch({ client, getNewToken: () => client.clientCredentials() });
    });
    for (let i = 0; i < wrappers.length; i += 100) await Promise.all(wrappers.slice(i, i + 100).map((w) => w.getToken()));
    return wrappers;
  },
  async 'google-auth-library'(list) {
    // Its cache is the credentials object: set what a refresh would have stored, then read it warm.
    const clients = list.map((id) => {
      const client = new GoogleClient({ clientId: id, clientSecret: CLIENT_SECRET });
      const body = JSON.parse(tokenJson()) as { access_token: string; expires_in: number };
      client.setCredentials({
        access_token: body.access_token,
        token_type: 'Bearer',
        refresh_token: `refresh-${id}`,
        expiry_date: Date.now() + body.expires_in * 1000,
      });
      return client;
    });
    for (const client of clients) await client.getAccessToken();
    return clients;
  },
  async '@azure/msal-node'(list) {
    const network: INetworkModule = {
      sendGetRequestAsync: async <T>() => ({ status: 404, headers: {}, body: {} as T }),
      sendPostRequestAsync: async <T>(): Promise<NetworkResponse<T>> => ({
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: tokenBody() as T,
      }),
    };
    const apps = list.map((id) => msalApplication('https://127.0.0.1:9', id, CLIENT_SECRET, network));
    const request = { scopes: ['api://bench/.default'] };
    for (let i = 0; i < apps.length; i += 100) await Promise.all(apps.slice(i, i + 100).map((app) => app.acquireTokenByClientCredential(request)));
    return apps;
  },
};

/** tokenbroker's figure split in three: provider objects, registrations, then the warm cache. */
async function tokenbrokerBreakdown(list: readonly string[], makeProvider: (id: string) => Provider) {
  const tokens = createTokenManager();
  const h0 = await settledHeap();
  const providers = list.map(makeProvider);
  const h1 = await settledHeap();
  list.forEach((id, i) => tokens.register(id, providers[i]!));
  const h2 = await settledHeap();
  for (let i = 0; i < list.length; i += 100) await Promise.all(list.slice(i, i + 100).map((id) => tokens.getToken(id)));
  const h3 = await settledHeap();
  void providers;
  return { providers: (h1 - h0) / list.length, registrations: (h2 - h1) / list.length, cachedTokens: (h3 - h2) / list.length, tokens };
}

const setup = setups[subject];
if (setup === undefined) throw new Error(`unknown subject ${subject}`);
// A full-size run first, dropped (closed where the subject can be closed), then the measured one.
const warmUp = await setup(ids.map((id) => `${id}-w`));
await (warmUp as { close?: () => Promise<void> }).close?.();
const heapBefore = await settledHeap();
const kept = await setup(ids);
const heapAfter = await settledHeap();
void kept;
let breakdown: MemoryResult['breakdown'];
const makeProvider = TOKENBROKER_PROVIDERS[subject];
if (makeProvider !== undefined) {
  const { providers, registrations, cachedTokens } = await tokenbrokerBreakdown(
    ids.map((id) => `${id}-b`),
    makeProvider,
  );
  breakdown = { providers, registrations, cachedTokens };
}
const result: MemoryResult = { name: subject, credentials: N, bytesPerCredential: (heapAfter - heapBefore) / N, heapBefore, heapAfter, breakdown };
process.stdout.write(`${JSON.stringify(result)}\n`);
