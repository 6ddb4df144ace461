/**
 * The token answer both token routes end with: the provider's token from the manager within the
 * request timeout, sent as `{ access_token, token_type, expires_at, expires_in, scope? }` with
 * `Cache-Control: no-store`, or the failure as the broker's error answer.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Token } from '../../../base/token.js';
import type { ServiceDeps } from '../deps.js';
import type { BrokerError } from '../errors.js';
import { send } from '../reply.js';
import { SettledTokens } from '../settled-tokens.js';

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

/**
 * Gets the token of `id` and answers with it (or the failure). What it returns is the handler's return
 * value: the body itself on a warm hit (Fastify sends it at once, with no promise on the way), else a
 * promise of it.
 */
export type TokenAnswer = (request: FastifyRequest, reply: FastifyReply, id: string) => unknown;

/** Each token's `expires_at` text, computed once per token. */
const expiresAtTexts = new WeakMap<Token, string>();

/** A token answerer over the manager's tokens (warm hits answered synchronously: settled-tokens.ts). */
export function createTokenAnswer({ tokens, limits, closing }: Pick<ServiceDeps, 'tokens' | 'limits' | 'closing'>): TokenAnswer {
  const settled = new SettledTokens(limits.requestTimeoutMs);

  const sendToken = (request: FastifyRequest, reply: FastifyReply, token: Token): Record<string, unknown> => {
    request.brokerAudit!.token = token;
    reply.header('x-request-id', request.id).header('cache-control', 'no-store').header('pragma', 'no-cache');
    // A request that was under way when the close began: its connection closes after this answer.
    if (closing()) reply.header('connection', 'close');
    return tokenBody(token);
  };

  /** Anything but a warm hit (a fetch under way, a failure): awaited within the request timeout. */
  const answerSlowly = async (request: FastifyRequest, reply: FastifyReply, id: string, pending: Promise<Token>): Promise<unknown> => {
    let token: Token;
    try {
      token = await settled.settle(id, pending);
    } catch (error) {
      const failure = error as BrokerError;
      const fields = request.brokerAudit!;
      fields.outcome = 'refused';
      fields.code = failure.code;
      return send(reply, failure);
    }
    return sendToken(request, reply, token);
  };

  return function answer(request, reply, id) {
    const pending = tokens.getToken(id);
    const token = settled.now(id, pending);
    return token !== undefined ? sendToken(request, reply, token) : answerSlowly(request, reply, id, pending);
  };
}

/** The success body. `expires_at` is the token's real expiry; the broker fetches a new one before it. */
function tokenBody(token: Token): Record<string, unknown> {
  let expiresAt = expiresAtTexts.get(token);
  if (expiresAt === undefined) expiresAtTexts.set(token, (expiresAt = new Date(token.expiresAt).toISOString()));
  const body: Record<string, unknown> = {
    access_token: token.accessToken,
    token_type: token.tokenType,
    expires_at: expiresAt,
    expires_in: Math.max(0, Math.floor((token.expiresAt - Date.now()) / 1000)),
  };
  if (token.scope !== undefined) body.scope = token.scope;
  return body;
}
