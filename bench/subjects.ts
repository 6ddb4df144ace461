/**
 * The libraries under test, each doing the same job — "give me a client-credentials access token for
 * this credential" — against the same loopback token server, configured as its README says.
 */
import { createRequire } from 'node:module';
import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import { OAuth2Client as BadgatewayClient, OAuth2Fetch } from '@badgateway/oauth2-client';
import { OAuth2Client as GoogleClient } from 'google-auth-library';
import * as openid from 'openid-client';
import { createTokenManager, oauth2 } from '../src/index.js';
import { msalApplication } from './msal-app.js';

export const CLIENT_ID = 'bench-client';
export const CLIENT_SECRET = 'bench-secret';

/** One ready instance of a library: `getToken` is the call measured. */
export interface Instance {
  getToken(): Promise<unknown>;
  close(): Promise<void>;
}

export interface Subject {
  /** Display name. */
  readonly name: string;
  /** npm package name, for the versions table. */
  readonly pkg: string;
  /** The call measured, in words. */
  readonly call: string;
  /** Does the library keep the token between calls? Without a cache every call is a request. */
  readonly caches: boolean;
  /** Builds an instance pointed at `tokenUrl`; nothing is fetched yet. */
  create(origin: string, tokenUrl: string): Instance;
  /** How it was pointed at loopback, when that needed more than a URL. */
  readonly note?: string;
}

// ---------------------------------------------------------------------------------------------------
// tokenbroker

export const tokenbroker: Subject = {
  name: 'tokenbroker',
  pkg: 'tokenbroker',
  call: 'tokens.getToken(id), memoryStore (default), oauth2() provider',
  caches: true,
  create(origin, tokenUrl) {
    const tokens = createTokenManager({
      providers: { bench: oauth2({ tokenUrl, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, apiBaseUrl: `${origin}/api/` }) },
    });
    return { getToken: () => tokens.getToken('bench'), close: () => tokens.close() };
  },
};

// ---------------------------------------------------------------------------------------------------
// @azure/msal-node

/**
 * MSAL refuses any authority that is not `https:` (authority_uri_insecure), so the authority is
 * `https://127.0.0.1:<port>/bench-tenant`, and MSAL's documented `system.networkClient` hook sends its
 * requests to the same host and port over plain http. Discovery is skipped with `knownAuthorities` +
 * `authorityMetadata`, so the only request MSAL makes is the token request.
 */
class LoopbackNetworkClient implements INetworkModule {
  async sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.#send<T>('GET', url, options);
  }
  async sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.#send<T>('POST', url, options);
  }
  async #send<T>(method: string, url: string, options: NetworkRequestOptions | undefined): Promise<NetworkResponse<T>> {
    const target = new URL(url);
    if (target.hostname !== '127.0.0.1') throw new Error(`bench: MSAL tried to reach ${target.host}`);
    target.protocol = 'http:';
    const response = await fetch(target, { method, headers: options?.headers, body: options?.body });
    const headers: Record<string, string> = {};
    response.headers.forEach((value, key) => {
      headers[key] = value;
    });
    return { status: response.status, headers, body: (await response.json()) as T };
  }
}

export const msal: Subject = {
  name: '@azure/msal-node',
  pkg: '@azure/msal-node',
  call: 'ConfidentialClientApplication.acquireTokenByClientCredential({ scopes })',
  caches: true,
  note: 'authority https://127.0.0.1:<port>/… (MSAL refuses http authorities); its documented `system.networkClient` hook sends the requests to the same loopback port over http; discovery skipped with knownAuthorities + authorityMetadata',
  create(origin) {
    const app = msalApplication(origin, CLIENT_ID, CLIENT_SECRET, new LoopbackNetworkClient());
    const request = { scopes: ['api://bench/.default'] };
    return { getToken: () => app.acquireTokenByClientCredential(request), close: async () => {} };
  },
};

// ---------------------------------------------------------------------------------------------------
// @badgateway/oauth2-client

export const badgateway: Subject = {
  name: '@badgateway/oauth2-client',
  pkg: '@badgateway/oauth2-client',
  call: 'OAuth2Fetch({ getNewToken: () => client.clientCredentials() }).getToken()',
  caches: true,
  create(_origin, tokenUrl) {
    const client = new BadgatewayClient({ tokenEndpoint: tokenUrl, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const wrapper = new OAuth2Fetch({ client, getNewToken: () => client.clientCredentials() });
    return { getToken: () => wrapper.getToken(), close: async () => {} };
  },
};

// ---------------------------------------------------------------------------------------------------
// google-auth-library

export const google: Subject = {
  name: 'google-auth-library',
  pkg: 'google-auth-library',
  call: 'OAuth2Client.getAccessToken() (refresh_token grant stands in: it has no client-credentials grant)',
  caches: true,
  note: 'no client-credentials grant: credentials hold a refresh_token and the refresh path is measured, pointed at the server with `endpoints.oauth2TokenUrl`',
  create(_origin, tokenUrl) {
    const client = new GoogleClient({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, endpoints: { oauth2TokenUrl: tokenUrl } });
    client.setCredentials({ refresh_token: 'bench-refresh-token', expiry_date: Date.now() - 1 });
    return { getToken: () => client.getAccessToken(), close: async () => {} };
  },
};

// ---------------------------------------------------------------------------------------------------
// openid-client

export const openidClient: Subject = {
  name: 'openid-client',
  pkg: 'openid-client',
  call: 'clientCredentialsGrant(config) (no cache: one request per call)',
  caches: false,
  create(origin, tokenUrl) {
    const config = new openid.Configuration({ issuer: origin, token_endpoint: tokenUrl }, CLIENT_ID, CLIENT_SECRET);
    openid.allowInsecureRequests(config); // http on loopback
    return { getToken: () => openid.clientCredentialsGrant(config), close: async () => {} };
  },
};

// ---------------------------------------------------------------------------------------------------
// simple-oauth2 (CommonJS without types: loaded with require and typed here)

interface SimpleOAuth2 {
  ClientCredentials: new (options: { client: { id: string; secret: string }; auth: { tokenHost: string; tokenPath: string } }) => {
    getToken(params: Record<string, string>): Promise<unknown>;
  };
}
const simpleOAuth2Module = createRequire(import.meta.url)('simple-oauth2') as SimpleOAuth2;

export const simpleOAuth2: Subject = {
  name: 'simple-oauth2',
  pkg: 'simple-oauth2',
  call: 'new ClientCredentials(…).getToken({}) (no cache: one request per call)',
  caches: false,
  create(origin, tokenUrl) {
    const client = new simpleOAuth2Module.ClientCredentials({
      client: { id: CLIENT_ID, secret: CLIENT_SECRET },
      auth: { tokenHost: origin, tokenPath: new URL(tokenUrl).pathname },
    });
    return { getToken: () => client.getToken({}), close: async () => {} };
  },
};

export const PEERS: readonly Subject[] = [msal, badgateway, google, openidClient, simpleOAuth2];
export const ALL: readonly Subject[] = [tokenbroker, ...PEERS];
