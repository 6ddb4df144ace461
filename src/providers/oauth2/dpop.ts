/**
 * DPoP (RFC 9449) for one credential: the key pair, openid-client's DPoP handle (it signs proofs and
 * remembers each origin's `DPoP-Nonce`), and authorised requests that carry `Authorization: DPoP …`
 * with a fresh proof (`htm`, `htu`, `ath`). A resource server's `use_dpop_nonce` challenge is answered
 * once with a proof carrying the nonce it sent.
 */
import type { DPoPHandle } from 'openid-client';
import { authorizationValue, type Token } from '../../base/token.js';
import { dpopKeyPair, randomDpopKey, type SigningKey } from './keys.js';
import type { OpenIdClient } from './library.js';
import type { FetchLike } from './transport.js';

/**
 * What openid-client's DPoP handle does besides its typed surface (oauth4webapi's DPoPHandler: the
 * same calls its own protected-resource requests make), so proofs and nonces for API calls come from
 * the handle that got the token.
 */
interface ProofMaker {
  addProof(url: URL, headers: Headers, htm: string, accessToken?: string): Promise<void>;
  cacheNonce(response: Response, url: URL): void;
}

/** The DPoP state of one credential, made on first use. */
export class DpopBinding {
  readonly #key: SigningKey;
  #handle: Promise<DPoPHandle> | undefined;

  constructor(key: true | SigningKey) {
    this.#key = key === true ? randomDpopKey() : key;
  }

  /** RFC 7638 thumbprint of the public key: tokens bound to another key are another credential. */
  get thumbprint(): string {
    return this.#key.thumbprint;
  }

  /**
   * The handle for token requests and proofs; one per credential, so nonces are remembered. It may
   * be made before any token request of this process (a token another process stored): openid-client
   * reads only the client's clock skew from the Configuration, so no server metadata is needed.
   */
  handle(lib: OpenIdClient, clientId: string): Promise<DPoPHandle> {
    this.#handle ??= dpopKeyPair(this.#key).then((pair) => lib.getDPoPHandle(new lib.Configuration({ issuer: 'urn:tokenbroker:dpop' }, clientId), pair));
    return this.#handle;
  }

  toJSON(): unknown {
    return { dpop: this.thumbprint };
  }
}

/** Sends `request` with a DPoP-bound `token`, answering one `use_dpop_nonce` challenge. */
export async function sendWithProof(handle: DPoPHandle, request: Request, token: Token, send: FetchLike): Promise<Response> {
  const spare = request.body === null ? request : request.clone();
  const first = await sendOnce(handle, request, token, send);
  if (first.status !== 401 || !asksForNonce(first)) return first;
  await first.body?.cancel().catch(() => {});
  return sendOnce(handle, spare, token, send);
}

async function sendOnce(dpopHandle: DPoPHandle, request: Request, token: Token, send: FetchLike): Promise<Response> {
  const handle = dpopHandle as unknown as ProofMaker;
  const url = new URL(request.url);
  const headers = new Headers(request.headers);
  headers.set('authorization', authorizationValue(token.accessToken, 'DPoP'));
  await handle.addProof(url, headers, request.method, token.accessToken);
  const response = await send(new Request(request, { headers }));
  handle.cacheNonce(response, url);
  return response;
}

function asksForNonce(response: Response): boolean {
  const challenge = response.headers.get('www-authenticate') ?? '';
  return /^\s*dpop\b/i.test(challenge) && /error\s*=\s*"?use_dpop_nonce"?/i.test(challenge) && response.headers.has('dpop-nonce');
}
