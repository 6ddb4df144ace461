import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { fieldIssues } from '../../base/zod-issues.js';
import type { EmulatorState } from './state.js';
import { admitTokenRequest, recordIssued, rejectUnread, type Authentication } from './token-admission.js';
import type { TokenProblem } from './tokens.js';
import { bearerToken, MAX_BODY_BYTES, mediaType, NO_STORE, parseJsonObject, sendJson, type RequestBody } from './wire.js';

// Autopay's wire format: an Auth0-style token server (`{ error, error_description }`, JWTs) and
// an API whose errors are `{ error_id, message }`.

const PROVIDER = 'autopay';

/** A nominal quota, reported in `x-ratelimit-limit` on 429s the way Auth0 reports its own. */
export const AUTOPAY_NOMINAL_RATE_LIMIT = 30;

function authError(error: string, description: string): { error: string; error_description: string } {
  return { error, error_description: description };
}

function apiError(errorId: string, message: string): { error_id: string; message: string } {
  return { error_id: errorId, message };
}

/** Keeps a client-supplied value short when it is echoed in an error description. */
function clip(value: string): string {
  return value.length > 100 ? `${value.slice(0, 100)}…` : value;
}

interface Refusal {
  status: number;
  error: string;
  description: string;
}

const REQUIRED_FIELDS = ['client_id', 'client_secret', 'audience', 'grant_type'] as const;

/** `POST /autopay-auth/oauth/token`. */
export async function handleToken(state: EmulatorState, request: IncomingMessage, response: ServerResponse, body: RequestBody): Promise<void> {
  const json = body.tooLarge ? undefined : parseJsonObject(body.text);
  const claimedClientId = typeof json?.['client_id'] === 'string' ? json['client_id'] : undefined;
  if (body.tooLarge) {
    rejectUnread(state, PROVIDER, claimedClientId);
    sendJson(response, 413, authError('invalid_request', `Request body exceeds ${MAX_BODY_BYTES} bytes`));
    return;
  }

  const admission = await admitTokenRequest(state, PROVIDER, claimedClientId, (): Authentication<Refusal> => {
    const badRequest = (description: string): Authentication<Refusal> => ({
      ok: false,
      reason: 'bad_request',
      detail: { status: 400, error: 'invalid_request', description },
    });
    if (mediaType(request) !== 'application/json') return badRequest('Content-Type must be application/json');
    if (json === undefined) return badRequest('Malformed JSON body: expected a JSON object');
    const missing = REQUIRED_FIELDS.filter((field) => typeof json[field] !== 'string' || json[field] === '');
    if (missing.length > 0) return badRequest(`Missing or non-string parameter(s): ${missing.join(', ')}`);
    const fields = json as Record<(typeof REQUIRED_FIELDS)[number], string>;

    const client = state.clients.authenticate(PROVIDER, fields.client_id, fields.client_secret);
    if (client === undefined) {
      return {
        ok: false,
        reason: 'invalid_credentials',
        detail: { status: 401, error: 'access_denied', description: 'Unauthorized' },
      };
    }
    if (fields.grant_type !== 'client_credentials') {
      return {
        ok: false,
        reason: 'bad_request',
        detail: {
          status: 403,
          error: 'unauthorized_client',
          description: `Grant type '${clip(fields.grant_type)}' not allowed for the client.`,
        },
      };
    }
    if (fields.audience !== client.audience) {
      return {
        ok: false,
        reason: 'bad_request',
        detail: {
          status: 403,
          error: 'access_denied',
          description: `Service not enabled within domain: ${clip(fields.audience)}`,
        },
      };
    }
    return { ok: true, client };
  });

  switch (admission.verdict) {
    case 'admitted': {
      const issuer = `${state.url}/autopay-auth/`;
      const token = state.tokens.mintJwt(admission.client, state.knobs.tokenLifetimeSeconds.autopay, issuer);
      recordIssued(state, admission.client);
      sendJson(
        response,
        200,
        {
          access_token: token.accessToken,
          scope: admission.client.scope,
          expires_in: token.expiresInSeconds,
          token_type: 'Bearer',
        },
        NO_STORE,
      );
      return;
    }
    case 'forced_429':
    case 'rate_limited': {
      const retryAfterSeconds = admission.verdict === 'forced_429' ? admission.retryAfterSeconds : undefined;
      const resetAt = Math.ceil(state.now() / 1000) + (retryAfterSeconds ?? 1);
      const headers: Record<string, string> = {
        'x-ratelimit-limit': String(AUTOPAY_NOMINAL_RATE_LIMIT),
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(resetAt),
      };
      if (retryAfterSeconds !== undefined) headers['retry-after'] = String(retryAfterSeconds);
      sendJson(response, 429, authError('too_many_requests', 'Global limit has been reached'), headers);
      return;
    }
    case 'error_injected':
      sendJson(response, 503, authError('temporarily_unavailable', 'The authorization server is temporarily unavailable'));
      return;
    case 'banned':
      sendJson(response, 403, authError('access_denied', 'API access terminated: excessive token generation'));
      return;
    case 'bad_request':
    case 'invalid_credentials':
      sendJson(response, admission.detail.status, authError(admission.detail.error, admission.detail.description));
      return;
  }
}

const TOKEN_PROBLEM_MESSAGES: Record<TokenProblem, string> = {
  unknown: 'Invalid access token!',
  wrong_provider: 'Invalid access token!',
  expired: 'Access token has expired!',
  revoked: 'Access token has been revoked!',
};

/** The join request, kept simple: who joins (a phone number or an e-mail address) and their name. */
const joinRequestSchema = z
  .object({
    phone_number: z
      .string()
      .regex(/^\+?[0-9]{6,15}$/, 'must be 6 to 15 digits, optionally after a +')
      .optional(),
    email: z
      .string()
      .max(254)
      .regex(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'must be an e-mail address')
      .optional(),
    first_name: z.string().max(100).optional(),
    last_name: z.string().max(100).optional(),
  })
  .refine((value) => value.phone_number !== undefined || value.email !== undefined, {
    message: 'phone_number or email is required',
  });

/** `POST /autopay/customer_club/v2/join`. */
export function handleJoinCustomerClub(state: EmulatorState, request: IncomingMessage, response: ServerResponse, body: RequestBody): void {
  if (body.tooLarge) {
    state.counters.apiCall(PROVIDER, undefined, 'bad_request');
    sendJson(response, 413, apiError('payload_too_large', `Request body exceeds ${MAX_BODY_BYTES} bytes`));
    return;
  }
  const bearer = bearerToken(request);
  if (!bearer.present) {
    state.counters.apiCall(PROVIDER, undefined, 'unauthorized');
    sendJson(response, 401, apiError('authentication_error', 'No access token present in header!'));
    return;
  }
  const check = bearer.token === undefined ? undefined : state.tokens.check(bearer.token, PROVIDER);
  if (check === undefined || !check.ok) {
    state.counters.apiCall(PROVIDER, check?.clientId, 'unauthorized');
    const message = check === undefined ? 'Malformed Authorization header!' : TOKEN_PROBLEM_MESSAGES[check.problem];
    sendJson(response, 401, apiError('authentication_error', message), { 'www-authenticate': 'Bearer error="invalid_token"' });
    return;
  }
  const { clientId, scope } = check.record;
  if (state.bans.isBanned(PROVIDER, clientId)) {
    state.counters.apiCall(PROVIDER, clientId, 'banned');
    sendJson(response, 403, apiError('access_terminated', 'API access terminated: excessive token generation'));
    return;
  }
  const limit = state.knobs.autopayApiRateLimitPerSecond;
  const limiterKey = `${PROVIDER}\u0000${clientId}`;
  if (!state.apiRateLimiter.admit(limiterKey, state.now(), limit)) {
    state.counters.apiCall(PROVIDER, clientId, 'rate_limited');
    sendJson(response, 429, apiError('too_many_requests', `Rate limit exceeded: ${limit} requests per second`), {
      'x-ratelimit-limit': String(limit),
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(Math.ceil(state.apiRateLimiter.windowEndsAt(limiterKey, state.now()) / 1000)),
    });
    return;
  }
  if (!(scope ?? '').split(' ').includes('customer_club')) {
    state.counters.apiCall(PROVIDER, clientId, 'unauthorized');
    sendJson(response, 403, apiError('insufficient_scope', 'Access token scope does not include customer_club'));
    return;
  }

  const invalid = (message: string): void => {
    state.counters.apiCall(PROVIDER, clientId, 'bad_request');
    sendJson(response, 400, apiError('validation_error', message));
  };
  if (mediaType(request) !== 'application/json') return invalid('Content-Type must be application/json');
  const json = parseJsonObject(body.text);
  if (json === undefined) return invalid('Request body must be a JSON object');
  const parsed = joinRequestSchema.safeParse(json);
  if (!parsed.success) {
    return invalid(
      fieldIssues(parsed.error.issues)
        .map((issue) => `${issue.path} ${issue.message}`)
        .join('; '),
    );
  }

  const member = parsed.data;
  // Derived from who joins, so joining twice answers the same member, as a real club would.
  const memberId = `mem_${createHash('sha256')
    .update(`${member.phone_number ?? ''}\u0000${member.email ?? ''}`)
    .digest('hex')
    .slice(0, 20)}`;
  state.counters.apiCall(PROVIDER, clientId, 'ok');
  sendJson(response, 200, {
    member_id: memberId,
    status: 'joined',
    ...member,
    joined_at: new Date(state.now()).toISOString(),
  });
}
