/**
 * The authorised HTTP client: a `fetch` that attaches the token (like the Transport of Go's
 * x/oauth2), and a ky instance built on it. The 401 rule lives here, once: the token that got the 401
 * is invalidated (only if it is still the current one), a fresh one is got within the guard, and the
 * request is sent again — once, never more.
 *
 * Pacing (docs/rate-limits.md): for a provider with a `rateLimit`, every request sent waits for a slot
 * of the credential's call budget first, and a 429 pauses the budget (every process sharing the store)
 * and sends the request again, all within one deadline (`maxWaitMs`). A 429 means the request was not
 * processed, so any method is sent again.
 */
import ky, { type KyInstance } from 'ky';
import { ForeignOriginError } from '../base/errors.js';
import type { Provider } from '../providers/provider.js';
import { authorizationValue, type Token } from '../base/token.js';
import type { RateLimit } from '../base/rate-limit.js';
import type { PacedCall, Pacer } from './pacing.js';

/** The part of the manager the client needs. */
export interface TokenSource {
  getToken(id: string, options?: { signal?: AbortSignal }): Promise<Token>;
  invalidate(id: string, accessToken?: string): boolean;
}

/** A 429 is answered by pausing and sending again at most this many times per call (the deadline usually ends it first). */
const MAX_RATE_LIMITED_RETRIES = 5;

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
  pacer?: Pacer,
): typeof globalThis.fetch {
  // A provider that sends its own requests (its transport, DPoP proofs) does; the 401 rule stays here.
  const send =
    provider?.authorizedFetch === undefined
      ? (request: Request, token: Token) => baseFetch(withToken(request, token))
      : (request: Request, token: Token) => provider.authorizedFetch!(request, token);
  const authorised = (request: Request): Promise<Response> => sendWith401Rule(tokens, id, request, send);
  const allowedOrigin = apiBaseUrl === undefined ? undefined : new URL(apiBaseUrl).origin;
  return async function authorizedFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    // ky hands over a Request of its own and an options object that is usually empty: reuse the Request.
    const request = input instanceof Request && (init === undefined || isEmpty(init)) ? input : new Request(input, init);
    if (allowedOrigin !== undefined && new URL(request.url).origin !== allowedOrigin) {
      throw new ForeignOriginError(allowedOrigin, new URL(request.url).origin, { provider: id });
    }
    const call = pacer?.callOf(id);
    if (call === undefined) return authorised(request);
    const limit = call.limit;
    if (limit === undefined) {
      const response = await authorised(request);
      if (response.status === 429) call.apiRateLimited++;
      return response;
    }
    const pace: Pace = { pacer: pacer!, call, limit, deadline: Date.now() + pacer!.maxWaitMs };
    // A body can be sent once; keep one to copy for each resend after a 429.
    const spare = request.body === null ? request : request.clone();
    let attempt = request;
    for (let retries = 0; ; retries++) {
      const response = await sendWith401Rule(tokens, id, attempt, send, pace);
      if (response.status !== 429) return response;
      await pacer!.rateLimited(call, limit, response);
      if (retries === MAX_RATE_LIMITED_RETRIES) return response;
      await response.body?.cancel().catch(() => {});
      attempt = spare === request ? request : spare.clone();
    }
  };
}

/** One paced call: its pacer, credential, limit and deadline (epoch ms). */
interface Pace {
  readonly pacer: Pacer;
  readonly call: PacedCall;
  readonly limit: RateLimit;
  readonly deadline: number;
}

type Send = (request: Request, token: Token) => Promise<Response>;

/**
 * Sends `request` with the current token; after a 401, once more with a fresh token (if there is a new
 * one). With `pace`, each request sent takes a slot first and its answer confirms the slot.
 */
async function sendWith401Rule(tokens: TokenSource, id: string, request: Request, send: Send, pace?: Pace): Promise<Response> {
  // A body can be sent once; keep a copy for the single retry after a 401.
  const spare = request.body === null ? request : request.clone();
  const token = await tokens.getToken(id, { signal: request.signal });
  const response = pace === undefined ? await send(request, token) : await sendInSlot(pace, request, token, send);
  if (response.status !== 401) {
    if (spare !== request) void spare.body?.cancel().catch(() => {});
    return response;
  }
  tokens.invalidate(id, token.accessToken);
  const fresh = await tokens.getToken(id, { signal: request.signal });
  if (fresh.accessToken === token.accessToken) return response;
  await response.body?.cancel().catch(() => {});
  return pace === undefined ? send(spare, fresh) : sendInSlot(pace, spare, fresh, send);
}

/** Waits for a slot (no wait when one is free in this process), sends, and confirms the slot with the answer. */
async function sendInSlot(pace: Pace, request: Request, token: Token, send: Send): Promise<Response> {
  const slot = pace.pacer.acquire(pace.call, pace.limit, pace.deadline, request.signal);
  const callId = typeof slot === 'string' ? slot : await slot;
  try {
    return await send(request, token);
  } finally {
    pace.pacer.confirm(pace.call, callId);
  }
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
  pacer?: Pacer,
): KyInstance {
  return ky.create({
    ...(apiBaseUrl === undefined ? {} : { prefix: apiBaseUrl }),
    fetch: createAuthorizedFetch(tokens, id, apiBaseUrl, globalThis.fetch, provider, pacer),
  });
}
