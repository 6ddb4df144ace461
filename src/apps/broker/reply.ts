/**
 * Error answers of the service listener: `send` (status, `x-request-id`, `Cache-Control: no-store`,
 * `Retry-After`, the JSON body), and the handlers for what no route answers (not found, a failed
 * request) and for the methods a route does not take.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BrokerLimits } from './config.js';
import { errorBody, type BrokerError } from './errors.js';
import { refuse } from './request-record.js';

/** Sends an error answer. */
export function send(reply: FastifyReply, error: BrokerError): FastifyReply {
  reply.code(error.status).header('x-request-id', reply.request.id).header('cache-control', 'no-store');
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  return reply.send(errorBody(error));
}

/** The not-found and error handlers: every answer is the broker's JSON, never Fastify's own. */
export function setErrorAnswers(app: FastifyInstance, limits: BrokerLimits): void {
  app.setNotFoundHandler((_request, reply) => send(reply, { status: 404, code: 'not_found', message: 'No such route' }));
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode ?? 500;
    if (request.brokerAudit !== undefined) refuse(request, 'bad_request');
    if (status === 413) return send(reply, { status, code: 'payload_too_large', message: `Request bodies are limited to ${limits.bodyLimitBytes} bytes` });
    if (status === 415)
      return send(reply, { status, code: 'unsupported_media_type', message: 'The body must be JSON, sent with content-type: application/json' });
    if (status >= 400 && status < 500) {
      const message = error.validation === undefined ? 'The request is malformed' : 'The body must be JSON: { "accessToken": "<the token the API rejected>" }';
      return send(reply, { status, code: 'bad_request', message });
    }
    request.log.error({ reqId: request.id, err: { name: error.name, code: error.code } }, 'request failed');
    return send(reply, { status: 500, code: 'internal_error', message: 'The broker failed unexpectedly; see its log' });
  });
}

/** Answers 405 with `Allow` to the `methods` a route does not take. */
export function refuseMethods(app: FastifyInstance, url: string, methods: string[], allow: string): void {
  app.route({
    method: methods,
    url,
    handler: (request: FastifyRequest, reply: FastifyReply) => {
      request.brokerRoute = request.routeOptions.url;
      reply.header('allow', allow);
      return send(reply, { status: 405, code: 'method_not_allowed', message: `Use ${allow.replace(', ', ' or ')}` });
    },
  });
}
