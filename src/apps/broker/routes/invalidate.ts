/**
 * `POST /v1/tokens/:provider/invalidate` `{ "accessToken": "…" }`: a consumer reports a token the API
 * rejected. Compare-and-delete of that token (bounded per consumer and provider), then answered like
 * `GET /v1/tokens/:provider`.
 */
import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from '../deps.js';
import { refuseMethods, send } from '../reply.js';
import { WindowCounter } from '../throttle.js';
import { createTokenAnswer, tokenResponseSchema } from './token-answer.js';

/** The route pattern (also the `route` label of its metrics). */
export const INVALIDATE_ROUTE = '/v1/tokens/:provider/invalidate';

const invalidateBodySchema = {
  type: 'object',
  properties: { accessToken: { type: 'string', minLength: 1, maxLength: 16_384 } },
  required: ['accessToken'],
  additionalProperties: false,
} as const;

/** Registers `POST /v1/tokens/:provider/invalidate` (and 405 for the other methods). */
export function registerInvalidateRoute(app: FastifyInstance, deps: RouteDeps): void {
  const { limits, metrics, tokens } = deps;
  const answer = createTokenAnswer(deps);
  const invalidations = new WindowCounter(limits.invalidationsPerConsumer, limits.invalidationWindowMs);
  app.post<{ Params: { provider: string }; Body: { accessToken: string } }>(
    INVALIDATE_ROUTE,
    { schema: { body: invalidateBodySchema, response: { 200: tokenResponseSchema } } },
    // Not async, like the token route: a warm answer is sent at once.
    (request, reply) => {
      const consumer = deps.admit(request, reply, INVALIDATE_ROUTE);
      // Refused: admission has sent the answer.
      if (consumer === undefined) return undefined;
      const id = request.params.provider;
      const fields = request.brokerAudit!;
      const allowanceKey = `${consumer.name}\u0000${id}`;
      const limitedMs = invalidations.retryAfterMs(allowanceKey);
      if (limitedMs > 0) {
        metrics.invalidation(consumer.name, id, 'limited');
        fields.code = 'invalidation_limit';
        send(reply, {
          status: 429,
          code: 'invalidation_limit',
          message: `Consumer "${consumer.name}" has reported too many rejected tokens for "${id}"; nothing was invalidated`,
          retryAfterSeconds: Math.ceil(limitedMs / 1000),
        });
        return undefined;
      }
      // Compare-and-delete: only if the reported token is still the current one. A report of a token
      // already replaced costs nothing and gets the current token.
      const dropped = tokens.invalidate(id, request.body.accessToken);
      if (dropped) invalidations.hit(allowanceKey);
      metrics.invalidation(consumer.name, id, dropped ? 'dropped' : 'already_replaced');
      fields.outcome = 'invalidated';
      fields.code = dropped ? undefined : 'already_replaced';
      return answer(request, reply, id);
    },
  );
  refuseMethods(app, INVALIDATE_ROUTE, ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'], 'POST');
}
