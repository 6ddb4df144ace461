import type { IncomingMessage, ServerResponse } from 'node:http';
import { pageOfCustomers } from './customers.js';
import type { EmulatorState } from './state.js';
import { admitTokenRequest, recordIssued, rejectUnread, type Authentication } from './token-admission.js';
import type { TokenProblem } from './tokens.js';
import { bearerToken, MAX_BODY_BYTES, mediaType, NO_STORE, sendJson, type RequestBody } from './wire.js';

// Alternative Payments' wire format: `{ code, message }` errors, Basic credentials, opaque tokens.

const PROVIDER = 'alternative-payments';

/** Error body in the provider's shape: a JSON object whose values are all strings. */
function apError(code: string, message: string): { code: string; message: string } {
  return { code, message };
}

type BasicCredentials = { kind: 'missing' } | { kind: 'malformed' } | { kind: 'present'; clientId: string; clientSecret: string };

const BASE64 = /^Basic +((?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?) *$/i;
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * `Authorization: Basic base64(clientId:clientSecret)` with both parts verbatim, as the provider
 * documents it: no form-url-decoding (RFC 6749 §2.3.1 would decode; this server does not), and the
 * split is at the first ':' so a secret may itself hold ':'.
 */
export function parseBasicCredentials(header: string | undefined): BasicCredentials {
  if (header === undefined || header.trim() === '') return { kind: 'missing' };
  const encoded = BASE64.exec(header)?.[1];
  if (encoded === undefined || encoded === '') return { kind: 'malformed' };
  let decoded: string;
  try {
    decoded = STRICT_UTF8.decode(Buffer.from(encoded, 'base64'));
  } catch {
    return { kind: 'malformed' };
  }
  const colon = decoded.indexOf(':');
  if (colon < 1) return { kind: 'malformed' };
  return { kind: 'present', clientId: decoded.slice(0, colon), clientSecret: decoded.slice(colon + 1) };
}

interface Refusal {
  status: number;
  message: string;
}

/** `POST {base}/oauth/token`. */
export async function handleToken(state: EmulatorState, request: IncomingMessage, response: ServerResponse, body: RequestBody): Promise<void> {
  const credentials = parseBasicCredentials(request.headers.authorization);
  const claimedClientId = credentials.kind === 'present' ? credentials.clientId : undefined;
  if (body.tooLarge) {
    rejectUnread(state, PROVIDER, claimedClientId);
    sendJson(response, 413, apError('payload_too_large', `Request body exceeds ${MAX_BODY_BYTES} bytes`));
    return;
  }

  const admission = await admitTokenRequest(state, PROVIDER, claimedClientId, (): Authentication<Refusal> => {
    const badRequest = checkTokenRequestBody(request, body.text);
    if (badRequest !== undefined) return { ok: false, reason: 'bad_request', detail: { status: 400, message: badRequest } };
    if (credentials.kind !== 'present') {
      const message = credentials.kind === 'missing' ? 'Missing Basic authorization header' : 'Malformed Basic authorization header';
      return { ok: false, reason: 'invalid_credentials', detail: { status: 403, message } };
    }
    const client = state.clients.authenticate(PROVIDER, credentials.clientId, credentials.clientSecret);
    if (client === undefined) {
      return { ok: false, reason: 'invalid_credentials', detail: { status: 403, message: 'Invalid credentials' } };
    }
    return { ok: true, client };
  });

  switch (admission.verdict) {
    case 'admitted': {
      const token = state.tokens.mintOpaque(admission.client, state.knobs.tokenLifetimeSeconds.alternativePayments);
      recordIssued(state, admission.client);
      sendJson(response, 200, { access_token: token.accessToken, expires_in: token.expiresInSeconds, token_type: 'bearer' }, NO_STORE);
      return;
    }
    case 'forced_429': {
      const headers: Record<string, string> = {};
      if (admission.retryAfterSeconds !== undefined) headers['retry-after'] = String(admission.retryAfterSeconds);
      sendJson(response, 429, apError('too_many_requests', 'Too many requests, slow down'), headers);
      return;
    }
    case 'rate_limited': {
      // The real limit documents no Retry-After, so none is sent.
      const limit = state.knobs.alternativePaymentsRateLimitPerSecond;
      sendJson(response, 429, apError('too_many_requests', `Rate limit exceeded: ${limit} requests per second per API key`));
      return;
    }
    case 'error_injected':
      sendJson(response, 503, apError('service_unavailable', 'Service temporarily unavailable, please retry'));
      return;
    case 'banned':
      sendJson(response, 403, apError('forbidden', 'API access terminated: excessive token generation'));
      return;
    case 'bad_request':
      sendJson(response, admission.detail.status, apError('invalid_request', admission.detail.message));
      return;
    case 'invalid_credentials':
      sendJson(response, admission.detail.status, apError('forbidden', admission.detail.message));
      return;
  }
}

/** The problem with a token request's content type or body, if any. Never echoes values. */
function checkTokenRequestBody(request: IncomingMessage, body: string): string | undefined {
  if (mediaType(request) !== 'application/x-www-form-urlencoded') {
    return 'Content-Type must be application/x-www-form-urlencoded';
  }
  const params = new URLSearchParams(body);
  const names = [...params.keys()];
  const unexpected = [...new Set(names.filter((name) => name !== 'grant_type'))];
  if (unexpected.length > 0) {
    // Credentials belong in the Basic header only; a body carrying them is refused, not read.
    return `Unexpected parameter(s): ${unexpected.map((name) => name.slice(0, 40)).join(', ')}; the body must be grant_type=client_credentials`;
  }
  if (params.getAll('grant_type').length !== 1 || params.get('grant_type') !== 'client_credentials') {
    return 'grant_type must be client_credentials';
  }
  return undefined;
}

const TOKEN_PROBLEM_MESSAGES: Record<TokenProblem, string> = {
  unknown: 'Invalid access token',
  wrong_provider: 'Invalid access token',
  expired: 'Access token expired; request a new one',
  revoked: 'Access token revoked; request a new one',
};

/** `GET {base}/customers?limit=&after=&before=`. */
export function handleListCustomers(state: EmulatorState, request: IncomingMessage, response: ServerResponse, url: URL): void {
  const bearer = bearerToken(request);
  if (!bearer.present) {
    state.counters.apiCall(PROVIDER, undefined, 'unauthorized');
    sendJson(response, 401, apError('unauthorized', 'Missing bearer token'), { 'www-authenticate': 'Bearer' });
    return;
  }
  const check = bearer.token === undefined ? undefined : state.tokens.check(bearer.token, PROVIDER);
  if (check === undefined || !check.ok) {
    state.counters.apiCall(PROVIDER, check?.clientId, 'unauthorized');
    const message = check === undefined ? 'Malformed Authorization header' : TOKEN_PROBLEM_MESSAGES[check.problem];
    sendJson(response, 401, apError('unauthorized', message), { 'www-authenticate': 'Bearer error="invalid_token"' });
    return;
  }
  const { clientId } = check.record;
  if (state.bans.isBanned(PROVIDER, clientId)) {
    state.counters.apiCall(PROVIDER, clientId, 'banned');
    sendJson(response, 403, apError('forbidden', 'API access terminated: excessive token generation'));
    return;
  }
  // The documented 5 requests per second per API key: counted per client, whatever token it uses.
  const limit = state.knobs.alternativePaymentsApiRateLimitPerSecond;
  if (!state.apiRateLimiter.admit(`${PROVIDER}\u0000${clientId}`, state.now(), limit)) {
    state.counters.apiCall(PROVIDER, clientId, 'rate_limited');
    sendJson(response, 429, apError('too_many_requests', `Rate limit exceeded: ${limit} requests per second per API key`));
    return;
  }
  const result = pageOfCustomers({
    limit: url.searchParams.get('limit'),
    after: url.searchParams.get('after'),
    before: url.searchParams.get('before'),
  });
  if (!result.ok) {
    state.counters.apiCall(PROVIDER, clientId, 'bad_request');
    sendJson(response, 400, apError('invalid_request', result.message));
    return;
  }
  state.counters.apiCall(PROVIDER, clientId, 'ok');
  sendJson(response, 200, result.page);
}
