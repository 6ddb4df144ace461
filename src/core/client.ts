/**
 * The authorised HTTP client: a `fetch` that attaches the token (like the Transport of Go's
 * x/oauth2), and a ky instance built on it. The 401 rule lives here, once: the token that got the 401
 * is invalidated (only if it is still the current one), a fresh one is got within the guard, and the
 * request is sent again — once, never more.
 */
import ky, { type KyInstance } from 'ky';
import { ForeignOriginError } from '../base/errors.js';
import type { Provider } from '../providers/provider.js';
import { authorizationValue, type Token } from '../base/token.js';

/** The part of the manager the client needs. */
export interface TokenSource {
  getToken(id: string, options?: { signal?: AbortSignal }): Promise<Token>;
  invalidate(id: string, accessToken?: string): boolean;
}

/**
 * A `fetch` that sends requests for provider `id` with its token. Tokens go only to the origin of
 * `apiBaseUrl` when the provider has one, so a mistaken absolute URL cannot leak a token.
 */
export function createAuthorizedFetch(
  tokens: TokenSource,
  id: string,
  apiBaseUrl?: string,
  baseFetch: typeof globalThis.fetch = globalThis.fetch,
  provider?: Pick<Provider, 'authorizedFetch'>,
): typeof globalThis.fetch {
  // A provider that sends its own requests (its transport, DPoP proofs) does; the 401 rule stays here.
  const send =
    provider?.authorizedFetch === undefined
      ? (request: Request, token: Token) => baseFetch(withToken(request, token))
      : (request: Request, token: Token) => provider.authorizedFetch!(request, token);
  const allowedOrigin = apiBaseUrl === undefined ? undefined : new URL(apiBaseUrl).origin;
  return async function authorizedFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    // ky hands over a Request of its own and an options object that is usually empty: reuse the Request.
    const request = input instanceof Request && (init === undefined || isEmpty(init)) ? input : new Request(input, init);
    if (allowedOrigin !== undefined && new URL(request.url).origin !== allowedOrigin) {
      throw new ForeignOriginError(allowedOrigin, new URL(request.url).origin, { provider: id });
    }
    // A body can be sent once; keep a copy for the single retry after a 401.
    const spare = request.body === null ? request : request.clone();
    const token = await tokens.getToken(id, { signal: request.signal });
    const response = await send(request, token);
    if (response.status !== 401) {
      if (spare !== request) void spare.body?.cancel().catch(() => {});
      return response;
    }
    tokens.invalidate(id, token.accessToken);
    const fresh = await tokens.getToken(id, { signal: request.signal });
    if (fresh.accessToken === token.accessToken) return response;
    await response.body?.cancel().catch(() => {});
    return send(spare, fresh);
  };
}

function isEmpty(init: RequestInit): boolean {
  for (const _ in init) return false;
  return true;
}

function withToken(request: Request, token: Token): Request {
  const headers = new Headers(request.headers);
  headers.set('authorization', authorizationValue(token.accessToken, token.tokenType));
  return new Request(request, { headers });
}

/** A ky instance whose `prefix` is the provider's API base URL and whose fetch is authorised. */
export function createAuthorizedClient(
  tokens: TokenSource,
  id: string,
  apiBaseUrl: string | undefined,
  provider?: Pick<Provider, 'authorizedFetch'>,
): KyInstance {
  return ky.create({
    ...(apiBaseUrl === undefined ? {} : { prefix: apiBaseUrl }),
    fetch: createAuthorizedFetch(tokens, id, apiBaseUrl, globalThis.fetch, provider),
  });
}
