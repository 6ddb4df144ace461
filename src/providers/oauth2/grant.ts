/**
 * What an `oauth2()` provider does on a token request: the metadata (discovered if need be), the
 * client authentication (and `'auto'`'s one fallback), DPoP, the grant. Imported on the provider's
 * first token request or DPoP-bound API call, with openid-client: `import('tokenbroker')` and the
 * synchronous construction of `oauth2()` need none of it.
 */
import type { ClientAuth, ServerMetadata } from 'openid-client';
import { InvalidCredentialsError, InvalidTokenResponseError } from '../../base/errors.js';
import type { TokenRequestContext, TokenResponse } from '../provider.js';
import { scrub as scrubText } from '../../base/redact.js';
import type { Token } from '../../base/token.js';
import { credentialScrubber } from '../shared.js';
import { basicCredentials, chooseMethod, clientAuthFor, type WireAuthMethod } from './auth.js';
import { discover } from './discovery.js';
import { sendWithProof, type DpopBinding } from './dpop.js';
import { openIdClient, type OpenIdClient } from './library.js';
import type { CredentialSettings } from './options.js';
import { rememberMethod, type Profile } from './profile.js';
import { boundFetch, clientCredentialsGrant } from './request.js';
import { JWT_BEARER_ASSERTION_TYPE } from './sources.js';
import type { FetchLike } from './transport.js';

/** What only a few credentials have: their own key, certificate transport or DPoP binding. */
export interface Extras {
  readonly credential: CredentialSettings;
  readonly transport: FetchLike | undefined;
  readonly dpop: DpopBinding | undefined;
}

/** One credential as its provider holds it, handed over for one request. */
export interface HeldCredential {
  readonly profile: Profile;
  readonly clientId: string;
  readonly clientSecret: string | undefined;
  readonly extras: Extras | undefined;
  /** The client assertion (RFC 7523 §2.2) read for this request, when the credential has one. */
  readonly clientAssertion?: string | undefined;
}

/** One token request of `credential`. */
export async function requestToken(credential: HeldCredential, context: TokenRequestContext): Promise<TokenResponse> {
  const lib = await openIdClient();
  const { profile } = credential;
  const scrub = scrubberOf(credential);
  const transport = credential.extras?.transport ?? profile.transport;
  try {
    const { fetch } = boundFetch(transport, context.signal, scrub);
    const metadata = await profile.metadata.current((issuer) => discover(lib, issuer, fetch));
    const { method, mayFallBack } = chooseMethod(profile.settings, metadata);
    try {
      return await grant(credential, lib, metadata, method, transport, context.signal, scrub);
    } catch (error) {
      // 'auto' with nothing known: a server that refused Basic may take the secret in the body
      // (Go's AuthStyleAutoDetect). Tried once, and counted in the issuance guard like any request.
      if (!mayFallBack || !refusedAuthentication(error)) throw error;
      if (context.spendExtraRequest !== undefined && !(await context.spendExtraRequest())) throw error;
      const response = await grant(credential, lib, metadata, 'client_secret_post', transport, context.signal, scrub);
      rememberMethod(metadata.token_endpoint!, 'client_secret_post');
      return response;
    }
  } catch (error) {
    profile.metadata.markStale();
    throw error;
  }
}

/** Sends an authorised API request with a DPoP-bound token: a proof from the handle that got it. */
export async function sendDpopBound(dpop: DpopBinding, clientId: string, request: Request, token: Token, transport: FetchLike): Promise<Response> {
  return sendWithProof(await dpop.handle(await openIdClient(), clientId), request, token, transport);
}

async function grant(
  { profile, clientId, clientSecret, extras, clientAssertion }: HeldCredential,
  lib: OpenIdClient,
  metadata: ServerMetadata,
  method: WireAuthMethod,
  transport: FetchLike,
  signal: AbortSignal,
  scrub: (text: string) => string,
): Promise<TokenResponse> {
  const credential = extras?.credential ?? { clientId, clientSecret, signingKey: undefined, keyId: undefined, tls: undefined, dpop: undefined };
  const dpop = extras?.dpop === undefined ? undefined : await extras.dpop.handle(lib, credential.clientId);
  const { body, quota, tokenType } = await clientCredentialsGrant({
    lib,
    metadata,
    clientId: credential.clientId,
    auth: clientAssertion !== undefined && method === 'private_key_jwt' ? assertionAuth(clientAssertion) : await clientAuthFor(lib, method, credential),
    mutualTls: method === 'tls_client_auth' || method === 'self_signed_tls_client_auth',
    params: profile.settings.params,
    dpop,
    transport,
    signal,
    scrub,
  });
  if (extras?.dpop !== undefined) {
    // Asked for DPoP, a Bearer token is refused rather than used unbound: with `dpop` set, every
    // token of this provider is DPoP-bound, including one another process stored (see authorizedFetch).
    if (tokenType?.toLowerCase() !== 'dpop') {
      throw new InvalidTokenResponseError(
        `Token endpoint answered token_type ${JSON.stringify(tokenType ?? null)}; dpop is set, so only a DPoP-bound token is accepted`,
      );
    }
    // One spelling for the manager's check (the provider's tokenType): the token says it is bound.
    body.token_type = 'DPoP';
  }
  return { body, quota };
}

/**
 * RFC 7523 §2.2 with an assertion someone else signed: openid-client's ClientAuth is an interface to
 * implement, and its own implementations sign the JWT themselves, so this one sets the two parameters.
 */
function assertionAuth(assertion: string): ClientAuth {
  return (_as, client, body) => {
    body.set('client_id', client.client_id);
    body.set('client_assertion_type', JWT_BEARER_ASSERTION_TYPE);
    body.set('client_assertion', assertion);
  };
}

/** Built on the error path only: a scrubber per credential would cost memory on every one. */
function scrubberOf({ clientId, clientSecret, clientAssertion }: HeldCredential): (text: string) => string {
  let scrubber: ((text: string) => string) | undefined;
  return (text) => {
    scrubber ??=
      clientSecret === undefined
        ? clientAssertion === undefined
          ? (value: string) => scrubText(value)
          : credentialScrubber(clientAssertion)
        : credentialScrubber(clientSecret, [basicCredentials(clientId, clientSecret), `${clientId}:${clientSecret}`]);
    return scrubber(text);
  };
}

function refusedAuthentication(error: unknown): boolean {
  return error instanceof InvalidCredentialsError && (error.status === 401 || error.providerCode === 'invalid_client');
}
