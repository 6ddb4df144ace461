/**
 * One token request through openid-client: our fetch wrapper (the manager's abort signal, no
 * redirects followed, bounded body reads, typed errors for the failures every endpoint shares), the
 * client authentication chosen for it, DPoP when configured, and the answer reduced to a plain body.
 */
import type { ClientAuth, CustomFetch, DPoPHandle, ServerMetadata } from 'openid-client';
import { TokenError } from '../../base/errors.js';
import { parseQuota } from '../../base/headers.js';
import { commonFailure, readTokenAnswer, transportError, type TokenHttpResponse } from '../../base/http.js';
import type { TokenResponse } from '../provider.js';
import { isHttp } from './discovery.js';
import { tokenRequestError } from './errors.js';
import type { OpenIdClient } from './library.js';
import type { FetchLike } from './transport.js';

/** One token request's fetch and what it saw. */
export interface Exchange {
  readonly fetch: CustomFetch;
  /** Our own error thrown inside the wrapper (openid-client may have wrapped it). */
  failure(): TokenError | undefined;
  /** The last HTTP answer read. */
  lastAnswer(): TokenHttpResponse | undefined;
}

/** One token request's fetch: our signal, no redirects, bounded bodies, typed errors for shared failures. */
export function boundFetch(transport: FetchLike, signal: AbortSignal, scrub: (text: string) => string): Exchange {
  let failure: TokenError | undefined;
  let lastAnswer: TokenHttpResponse | undefined;
  const send: CustomFetch = async (url, init) => {
    const combined = init.signal === undefined ? signal : AbortSignal.any([signal, init.signal]);
    try {
      let response: Response;
      try {
        response = await transport(url, {
          method: init.method,
          headers: init.headers,
          body: init.body as RequestInit['body'],
          redirect: 'manual',
          signal: combined,
        });
      } catch (error) {
        throw transportError(error, combined, scrub, String(url));
      }
      lastAnswer = await readTokenAnswer(response, combined, scrub);
      const { status, headers, text } = lastAnswer;
      if ((status >= 300 && status < 400) || status === 408 || status === 429 || status >= 500) {
        throw commonFailure(lastAnswer, scrub, Date.now());
      }
      // openid-client gets a fresh Response over the text we already read (and bounded).
      return new Response(status === 204 || status === 205 ? null : text, { status, headers });
    } catch (error) {
      if (error instanceof TokenError) failure = error;
      throw error;
    }
  };
  return { fetch: send, failure: () => failure, lastAnswer: () => lastAnswer };
}

/** What one grant needs. */
export interface GrantRequest {
  readonly lib: OpenIdClient;
  readonly metadata: ServerMetadata;
  readonly clientId: string;
  readonly auth: ClientAuth;
  /** RFC 8705 §5: send to `mtls_endpoint_aliases` when the server lists them. */
  readonly mutualTls: boolean;
  readonly params: readonly (readonly [string, string])[];
  readonly dpop: DPoPHandle | undefined;
  readonly transport: FetchLike;
  readonly signal: AbortSignal;
  readonly scrub: (text: string) => string;
}

/** Sends one client-credentials grant; throws only TokenErrors. */
export async function clientCredentialsGrant(
  request: GrantRequest,
): Promise<{ body: Record<string, unknown>; quota: TokenResponse['quota']; tokenType: string | undefined }> {
  const { lib, metadata, signal, scrub } = request;
  const exchange = boundFetch(request.transport, signal, scrub);
  try {
    // Made per request, on the cold path: only the shared metadata and this credential's own fields
    // live between requests.
    const config = new lib.Configuration(metadata, request.clientId, request.mutualTls ? { use_mtls_endpoint_aliases: true } : undefined, request.auth);
    if (isHttp(metadata.token_endpoint ?? '')) lib.allowInsecureRequests(config);
    config[lib.customFetch] = exchange.fetch;
    // The manager's per-attempt signal is the timeout. openid-client's own (30 s) would add an
    // AbortSignal.timeout per request that lives, timer and all, for its full 30 s.
    config.timeout = 0;
    const result = await lib.clientCredentialsGrant(config, new URLSearchParams(request.params as [string, string][]), { DPoP: request.dpop });
    const answer = exchange.lastAnswer();
    // A plain copy: openid-client's helper methods are non-enumerable and stay behind.
    const body: Record<string, unknown> = { ...result };
    return {
      body,
      tokenType: typeof result.token_type === 'string' ? result.token_type : undefined,
      quota: answer === undefined ? undefined : parseQuota(answer.headers, Date.now()),
    };
  } catch (error) {
    throw exchange.failure() ?? tokenRequestError(lib, error, signal, scrub, exchange.lastAnswer());
  }
}
