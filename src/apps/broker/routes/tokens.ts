/** `GET /v1/tokens/:provider`: an admitted consumer gets the provider's current token. */
import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from '../deps.js';
import { refuseMethods } from '../reply.js';
import { createTokenAnswer, tokenResponseSchema } from './token-answer.js';

/** The route pattern (also the `route` label of its metrics). */
export const TOKEN_ROUTE = '/v1/tokens/:provider';

/** Registers `GET /v1/tokens/:provider` (and 405 for the other methods). */
export function registerTokenRoute(app: FastifyInstance, deps: RouteDeps): void {
  const answer = createTokenAnswer(deps);
  // Not async: a warm hit's body is returned as is and sent at once (see token-answer.ts).
  app.get<{ Params: { provider: string } }>(TOKEN_ROUTE, { schema: { response: { 200: tokenResponseSchema } } }, (request, reply) => {
    // Refused: admission has sent the answer.
    if (deps.admit(request, reply, TOKEN_ROUTE) === undefined) return undefined;
    request.brokerAudit!.outcome = 'issued';
    return answer(request, reply, request.params.provider);
  });
  refuseMethods(app, TOKEN_ROUTE, ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'], 'GET, HEAD');
}
