/**
 * The token answer both token routes end with: the provider's token from the manager within the
 * request timeout, sent as `{ access_token, token_type, expires_at, expires_in, scope? }` with
 * `Cache-Control: no-store`, or the failure as the broker's error answer.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Token } from '../../../base/token.js';
import { withDeadline } from '../../../base/timers.js';
import type { ServiceDeps } from '../deps.js';
import { tokenFailure, type BrokerError } from '../errors.js';
import { send } from '../reply.js';

/** The success body's schema: Fastify compiles a serialiser from it. */
export const tokenResponseSchema = {
  type: 'object',
  properties: {
    access_token: { type: 'string' },
    token_type: { type: 'string' },
    expires_at: { type: 'string' },
    expires_in: { type: 'integer' },
    scope: { type: 'string' },
  },
  required: ['access_token', 'token_type', 'expires_at', 'expires_in'],
} as const;

/** Gets the token of `id` and sends it (or the failure); resolves to the handler's return value. */
export type TokenAnswer = (request: FastifyRequest, reply: FastifyReply, id: string) => Promise<unknown>;

const TIMED_OUT = new Error('timed out');

/** A token answerer; it remembers, per provider id, the last settled token promise and `expires_at` text. */
export function createTokenAnswer({ tokens, limits, closing }: Pick<ServiceDeps, 'tokens' | 'limits' | 'closing'>): TokenAnswer {
  /** Per provider id, the last token promise that resolved: the manager returns it again on warm hits. */
  const settled = new Map<string, Promise<Token>>();
  /** Per provider id, the last token answered and its `expires_at` text (computed once per token). */
  const expiresAtText = new Map<string, { token: Token; text: string }>();

  return async function answer(request, reply, id) {
    const fields = request.brokerAudit!;
    let token: Token;
    try {
      const pending = tokens.getToken(id);
      // A warm hit hands back the same settled promise every time: awaited as is, with no timer.
      // Anything else (a fetch under way) is awaited within the request timeout.
      token = await (settled.get(id) === pending ? pending : withDeadline(pending, limits.requestTimeoutMs, () => TIMED_OUT));
      settled.set(id, pending);
    } catch (error) {
      // No known retry time for a fetch still under way: 1 s is a guess, and says so by being small.
      const failure: BrokerError =
        error === TIMED_OUT ? { status: 503, code: 'timeout', message: 'No token within the request timeout', retryAfterSeconds: 1 } : tokenFailure(error, id);
      fields.outcome = 'refused';
      fields.code = failure.code;
      return send(reply, failure);
    }
    fields.token = token;
    reply.header('x-request-id', request.id).header('cache-control', 'no-store').header('pragma', 'no-cache');
    // A request that was under way when the close began: its connection closes after this answer.
    if (closing()) reply.header('connection', 'close');
    return tokenBody(token, id, expiresAtText);
  };
}

/** The success body. `expires_at` is the token's real expiry; the broker fetches a new one before it. */
function tokenBody(token: Token, id: string, expiresAtText: Map<string, { token: Token; text: string }>): Record<string, unknown> {
  let cached = expiresAtText.get(id);
  if (cached?.token !== token) expiresAtText.set(id, (cached = { token, text: new Date(token.expiresAt).toISOString() }));
  const body: Record<string, unknown> = {
    access_token: token.accessToken,
    token_type: token.tokenType,
    expires_at: cached.text,
    expires_in: Math.max(0, Math.floor((token.expiresAt - Date.now()) / 1000)),
  };
  if (token.scope !== undefined) body.scope = token.scope;
  return body;
}
