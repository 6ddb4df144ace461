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

/**
 * Gets the token of `id` and answers with it (or the failure). What it returns is the handler's return
 * value: the body itself on a warm hit (Fastify sends it at once, with no promise on the way), else a
 * promise of it.
 */
export type TokenAnswer = (request: FastifyRequest, reply: FastifyReply, id: string) => unknown;

const TIMED_OUT = new Error('timed out');

/** The token a settled promise of the manager resolved to. */
interface Settled {
  readonly promise: Promise<Token>;
  readonly token: Token;
  /** The token's `expires_at` text (computed once per token). */
  readonly expiresAt: string;
}

/** A token answerer; it remembers, per provider id, the last token promise that settled and its token. */
export function createTokenAnswer({ tokens, limits, closing }: Pick<ServiceDeps, 'tokens' | 'limits' | 'closing'>): TokenAnswer {
  /**
   * Per provider id, the last token promise that resolved, with its token. The manager hands the same
   * settled promise back on every warm hit, and a promise settles once: the same promise is the same
   * token, so a warm hit is answered synchronously, with no await and no timer.
   */
  const settled = new Map<string, Settled>();

  const sendToken = (request: FastifyRequest, reply: FastifyReply, last: Settled): Record<string, unknown> => {
    request.brokerAudit!.token = last.token;
    reply.header('x-request-id', request.id).header('cache-control', 'no-store').header('pragma', 'no-cache');
    // A request that was under way when the close began: its connection closes after this answer.
    if (closing()) reply.header('connection', 'close');
    return tokenBody(last);
  };

  /** Anything but a warm hit (a fetch under way, a failure): awaited within the request timeout. */
  const answerSlowly = async (request: FastifyRequest, reply: FastifyReply, id: string, pending: Promise<Token>): Promise<unknown> => {
    let token: Token;
    try {
      token = await withDeadline(pending, limits.requestTimeoutMs, () => TIMED_OUT);
    } catch (error) {
      // No known retry time for a fetch still under way: 1 s is a guess, and says so by being small.
      const failure: BrokerError =
        error === TIMED_OUT ? { status: 503, code: 'timeout', message: 'No token within the request timeout', retryAfterSeconds: 1 } : tokenFailure(error, id);
      const fields = request.brokerAudit!;
      fields.outcome = 'refused';
      fields.code = failure.code;
      return send(reply, failure);
    }
    let last = settled.get(id);
    if (last?.promise !== pending) settled.set(id, (last = { promise: pending, token, expiresAt: new Date(token.expiresAt).toISOString() }));
    return sendToken(request, reply, last);
  };

  return function answer(request, reply, id) {
    const pending = tokens.getToken(id);
    const last = settled.get(id);
    return last?.promise === pending ? sendToken(request, reply, last) : answerSlowly(request, reply, id, pending);
  };
}

/** The success body. `expires_at` is the token's real expiry; the broker fetches a new one before it. */
function tokenBody({ token, expiresAt }: Settled): Record<string, unknown> {
  const body: Record<string, unknown> = {
    access_token: token.accessToken,
    token_type: token.tokenType,
    expires_at: expiresAt,
    expires_in: Math.max(0, Math.floor((token.expiresAt - Date.now()) / 1000)),
  };
  if (token.scope !== undefined) body.scope = token.scope;
  return body;
}
