/**
 * What openid-client throws, mapped to tokenbroker's error classes, keeping nothing of it but
 * scrubbed text. RFC 6749 §5.2 codes that mean "this client cannot have this token" become
 * `InvalidCredentialsError`; the server's `error` is kept as `providerCode` — from the JSON body when
 * a `WWW-Authenticate` challenge (`Basic realm=…`) does not carry one.
 */
import { InvalidCredentialsError, InvalidTokenResponseError, safeCause, TokenError } from '../../base/errors.js';
import { commonFailure, oauthErrorCode, transportError, type TokenHttpResponse } from '../../base/http.js';
import { credentialsRefused } from '../shared.js';
import type { OpenIdClient } from './library.js';

/** RFC 6749 §5.2 codes that mean "this client cannot have this token": retrying cannot help. */
const REFUSED_CLIENT_CODES = new Set(['invalid_client', 'unauthorized_client', 'access_denied', 'invalid_scope']);

/** Maps a failed token request to one of our errors. */
export function tokenRequestError(
  lib: OpenIdClient,
  error: unknown,
  signal: AbortSignal,
  scrub: (text: string) => string,
  answer: TokenHttpResponse | undefined,
): TokenError {
  const own = ownError(error);
  if (own !== undefined) return own;
  if (error instanceof lib.ResponseBodyError) {
    const providerCode = oauthErrorCode({ error: error.error });
    const description = typeof error.error_description === 'string' ? `: ${scrub(error.error_description)}` : '';
    const summary = `(HTTP ${error.status}${providerCode === undefined ? '' : ` ${providerCode}`})${description}`;
    if (providerCode !== undefined && REFUSED_CLIENT_CODES.has(providerCode)) {
      return new InvalidCredentialsError(`Token endpoint refused the client credentials ${summary}`, { status: error.status, providerCode });
    }
    return new InvalidTokenResponseError(`Token endpoint answered with an error ${summary}`, { status: error.status, providerCode });
  }
  if (error instanceof lib.WWWAuthenticateChallengeError) {
    const challengeCode = error.cause.map((challenge) => challenge.parameters.error).find((code) => code !== undefined);
    const providerCode = oauthErrorCode({ error: challengeCode }) ?? oauthErrorCode(answer?.json);
    if (error.status === 401) {
      return new InvalidCredentialsError(`Token endpoint refused the client credentials (HTTP 401 with a WWW-Authenticate challenge)`, {
        status: 401,
        providerCode,
      });
    }
    return new InvalidTokenResponseError(`Token endpoint answered HTTP ${error.status} with a WWW-Authenticate challenge`, {
      status: error.status,
      providerCode,
    });
  }
  if (signal.aborted) return transportError(error, signal, scrub);
  // A non-2xx answer without an RFC 6749 error body: say what the server said, not what openid-client thought of it.
  // A bare 401 from a token endpoint can only be about the client's authentication (RFC 6749 §5.2).
  if (answer?.status === 401) return credentialsRefused('Token endpoint', answer, scrub);
  if (answer !== undefined && (answer.status < 200 || answer.status >= 300)) return commonFailure(answer, scrub, Date.now());
  return new InvalidTokenResponseError(`Token response was rejected: ${errorSummary(error, scrub)}`, { cause: safeCause(error, scrub) });
}

/** Our own error, thrown inside the fetch wrapper and possibly wrapped by openid-client on its way out. */
export function ownError(error: unknown): TokenError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    if (current instanceof TokenError) return current;
    current = current.cause;
  }
  return undefined;
}

/** `message: inner message`, for openid-client's wrapped errors ("invalid response encountered: …"). */
export function errorSummary(error: unknown, scrub: (text: string) => string): string {
  if (!(error instanceof Error)) return 'unknown error';
  const inner = error.cause instanceof Error && error.cause.message !== error.message ? `: ${error.cause.message}` : '';
  return scrub(`${error.message}${inner}`);
}
