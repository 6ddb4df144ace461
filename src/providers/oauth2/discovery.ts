/**
 * Discovery of an `issuer`'s metadata: OpenID discovery first, then RFC 8414
 * (`/.well-known/oauth-authorization-server`) when the OpenID document is not there. Loaded with the
 * first token request; metadata.ts keeps what it found.
 */
import type { CustomFetch, ServerMetadata } from 'openid-client';
import { InvalidTokenResponseError, safeCause, type TokenError } from '../../base/errors.js';
import { urlIssue } from '../../base/url-policy.js';
import { scrub as scrubText } from '../../base/redact.js';
import { errorSummary, ownError } from './errors.js';
import type { OpenIdClient } from './library.js';

/** `http://` reaches only loopback hosts (the options checked); openid-client must be told it may. */
export function isHttp(url: string): boolean {
  return url.startsWith('http:');
}

/** The issuer's metadata, checked: a usable `token_endpoint` (and mutual-TLS alias), as a frozen copy. */
export async function discover(lib: OpenIdClient, issuer: string, fetch: CustomFetch): Promise<ServerMetadata> {
  const url = new URL(issuer);
  let status: number | undefined;
  const recording: CustomFetch = async (href, init) => {
    const response = await fetch(href, init);
    status = response.status;
    return response;
  };
  const options = { [lib.customFetch]: recording, execute: isHttp(issuer) ? [lib.allowInsecureRequests] : [] };
  let metadata: ServerMetadata;
  try {
    metadata = (await lib.discovery(url, 'discovery', undefined, undefined, { ...options, algorithm: 'oidc' })).serverMetadata();
  } catch (openIdFailure) {
    // Only "no OpenID document here" (a 4xx) sends us to RFC 8414; a network failure, a 5xx or a
    // document that is wrong (another issuer) is reported as it is.
    if (status === undefined || status < 400 || status >= 500) throw discoveryError(issuer, openIdFailure);
    try {
      metadata = (await lib.discovery(url, 'discovery', undefined, undefined, { ...options, algorithm: 'oauth2' })).serverMetadata();
    } catch (error) {
      throw discoveryError(issuer, error);
    }
  }
  const tokenEndpoint = metadata.token_endpoint;
  const problem = tokenEndpoint === undefined ? undefined : urlIssue(tokenEndpoint, 'token_endpoint');
  if (tokenEndpoint === undefined || problem !== undefined) {
    throw new InvalidTokenResponseError(
      `Discovery document of ${issuer} has ${tokenEndpoint === undefined ? 'no token_endpoint' : `an unusable token_endpoint (${problem!.message})`}`,
    );
  }
  // RFC 8705 §5: mutual-TLS clients send to the alias when there is one; it gets the same URL policy.
  const alias = metadata.mtls_endpoint_aliases?.token_endpoint;
  const aliasProblem = alias === undefined ? undefined : urlIssue(alias, 'mtls_endpoint_aliases.token_endpoint');
  if (aliasProblem !== undefined) {
    throw new InvalidTokenResponseError(`Discovery document of ${issuer} has an unusable mtls_endpoint_aliases.token_endpoint (${aliasProblem.message})`);
  }
  // A plain frozen copy: the Configuration it came from is not kept.
  return Object.freeze({ ...metadata });
}

function discoveryError(issuer: string, error: unknown): TokenError {
  const own = ownError(error);
  if (own !== undefined) return own;
  // The discovery request carries no secret, but the body it quotes is a stranger's: scrub it anyway.
  return new InvalidTokenResponseError(`Discovery of ${issuer} failed (OpenID and RFC 8414): ${errorSummary(error, scrubText)}`, {
    cause: safeCause(error, scrubText),
  });
}
