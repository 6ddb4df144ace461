/**
 * The broker's error answers: `{ error: { code, message } }` with a stable code. Messages are fixed
 * text chosen here, never a library message: a consumer learns what happened, not the provider's
 * wording or anything derived from the broker's credentials.
 */
import { TokenError } from '../../base/errors.js';

/** Every code the broker answers with. */
export type BrokerErrorCode =
  | 'unauthenticated'
  | 'invalid_key'
  | 'too_many_failed_authentications'
  | 'consumer_rate_limited'
  | 'provider_not_allowed'
  | 'unknown_provider'
  | 'not_found'
  | 'method_not_allowed'
  | 'bad_request'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'uri_too_long'
  | 'headers_too_large'
  | 'request_timeout'
  | 'invalidation_limit'
  | 'upstream_invalid_credentials'
  | 'upstream_invalid_response'
  | 'upstream_unavailable'
  | 'upstream_rate_limited'
  | 'issuance_limit'
  | 'timeout'
  | 'shutting_down'
  | 'internal_error'
  // The proxy (src/apps/broker/proxy/):
  | 'proxy_only'
  | 'proxy_not_allowed'
  | 'proxy_unavailable'
  | 'no_api_base'
  | 'bad_path'
  | 'rate_limited'
  | 'upstream_timeout'
  | 'upstream_response_too_large';

/** One error answer: status, body and the headers it needs. */
export interface BrokerError {
  readonly status: number;
  readonly code: BrokerErrorCode;
  readonly message: string;
  /** Seconds, for `Retry-After`. */
  readonly retryAfterSeconds?: number;
}

/** The JSON body of an error answer. */
export function errorBody(error: BrokerError): { error: { code: BrokerErrorCode; message: string } } {
  return { error: { code: error.code, message: error.message } };
}

/** No key, or an `Authorization` header that is not `Bearer <key>`. */
export const UNAUTHENTICATED: BrokerError = {
  status: 401,
  code: 'unauthenticated',
  message: 'An API key is required: Authorization: Bearer <key> or x-api-key: <key>',
};

/** A key that no consumer has. */
export const INVALID_KEY: BrokerError = {
  status: 401,
  code: 'invalid_key',
  message: 'The API key is not valid (check it has no trailing newline or space)',
};

/** `Retry-After` seconds from a library `retryAfterMs`, rounded up; 1 when none is known. */
export function retryAfterSeconds(ms: unknown): number {
  return typeof ms === 'number' && ms > 0 ? Math.ceil(ms / 1000) : 1;
}

/** The answer for a failed token fetch. */
export function tokenFailure(error: unknown, provider: string): BrokerError {
  if (!(error instanceof TokenError)) {
    return { status: 500, code: 'internal_error', message: 'The broker failed unexpectedly; see its log' };
  }
  const retryAfter = retryAfterSeconds((error as { retryAfterMs?: unknown }).retryAfterMs);
  switch (error.code) {
    case 'invalid_credentials':
      return { status: 502, code: 'upstream_invalid_credentials', message: `Provider "${provider}" refused the broker's client credentials` };
    case 'invalid_token_response':
      return { status: 502, code: 'upstream_invalid_response', message: `Provider "${provider}" did not answer with a usable token` };
    case 'rate_limited':
      return { status: 503, code: 'upstream_rate_limited', message: `Provider "${provider}" is rate-limiting token requests`, retryAfterSeconds: retryAfter };
    case 'issuance_limit':
      return {
        status: 503,
        code: 'issuance_limit',
        message: `The issuance budget for "${provider}" is spent; no request was sent to the provider`,
        retryAfterSeconds: retryAfter,
      };
    case 'provider_unavailable':
      return { status: 503, code: 'upstream_unavailable', message: `Provider "${provider}" is unavailable`, retryAfterSeconds: retryAfter };
    case 'unknown_provider':
      return { status: 404, code: 'unknown_provider', message: 'No provider is configured under that id' };
    case 'config':
    case 'foreign_origin':
    case 'dpop_required':
      return { status: 500, code: 'internal_error', message: 'The broker is misconfigured; see its log' };
    case 'closed':
      return { status: 503, code: 'shutting_down', message: 'The broker is shutting down' };
  }
}
