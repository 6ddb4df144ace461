/**
 * Admission at the listener: what Fastify and Node check before any route runs — the request id, the
 * size and time limits, TLS with optional client certificates — and the broker's answers to requests
 * refused there (an unparsable request, headers over the limit, a malformed URL).
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { LogController, type FastifyHttpOptions, type FastifyServerOptions } from 'fastify';
import type { ServiceDeps } from '../deps.js';
import { errorBody, type BrokerError } from '../errors.js';
import { send } from '../reply.js';

/** An incoming `x-request-id` is kept when it looks like one (and cannot inject anything into a log). */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The answers to requests Node refuses before they exist, by its error code. */
const CLIENT_ERRORS: Readonly<Record<string, BrokerError>> = {
  HPE_HEADER_OVERFLOW: { status: 431, code: 'headers_too_large', message: 'The request line and headers are over the limit (limits.maxHeaderBytes)' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'request_timeout', message: 'The request did not arrive within limits.requestTimeoutMs' },
  default: { status: 400, code: 'bad_request', message: 'The request is not valid HTTP' },
};

/** The service listener's Fastify options. */
export function listenerOptions({ limits, logger, metrics, tls }: ServiceDeps): FastifyServerOptions & FastifyHttpOptions<never> {
  return {
    loggerInstance: logger,
    // No child logger per request (Fastify's default binds reqId to one): lines that need it carry it.
    childLoggerFactory: (parent) => parent,
    // The access log (request-record.ts) replaces Fastify's two lines per request (which quote the raw URL).
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    genReqId: (request) => {
      const incoming = request.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    bodyLimit: limits.bodyLimitBytes,
    routerOptions: { maxParamLength: 64 },
    // Socket level: the whole request must arrive within this (slow-loris protection). The wait for a
    // token is bounded separately, on the slow path only (see `withDeadline`).
    requestTimeout: limits.requestTimeoutMs,
    // Node checks request timeouts every `connectionsCheckingInterval` (30 s by default): often enough here.
    http: { maxHeaderSize: limits.maxHeaderBytes, connectionsCheckingInterval: Math.min(1_000, limits.requestTimeoutMs) },
    // Answers Node gives before a request exists (431, 408, an unparsable request): our JSON, counted.
    clientErrorHandler: (error: NodeJS.ErrnoException, socket: Socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const answer = CLIENT_ERRORS[error.code ?? ''] ?? CLIENT_ERRORS.default!;
      metrics.request('unparsed', answer.status);
      if (socket.writable) {
        const body = JSON.stringify(errorBody(answer));
        const reason = answer.status === 431 ? 'Request Header Fields Too Large' : answer.status === 408 ? 'Request Timeout' : 'Bad Request';
        socket.write(
          `HTTP/1.1 ${answer.status} ${reason}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\n` +
            `Cache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
        );
      }
      socket.destroy();
    },
    // With a CA, client certificates are asked for and verified, but not required: API-key consumers
    // connect without one. A certificate counts only when the CA signed it (socket.authorized).
    ...(tls === undefined
      ? {}
      : {
          https: {
            cert: tls.cert,
            key: tls.key,
            ...(tls.ca === undefined ? {} : { ca: tls.ca, requestCert: true, rejectUnauthorized: false }),
          },
        }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Router errors (bad URL encoding, an over-long id): Fastify's own answer quotes the URL.
    frameworkErrors: (error, request, reply) => {
      const answer: BrokerError =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? { status: 414, code: 'uri_too_long', message: 'Provider ids are at most 64 characters' }
          : { status: 400, code: 'bad_request', message: 'The request URL is malformed' };
      // Hooks do not run for these answers: counted and logged here.
      metrics.request('unmatched', answer.status);
      request.log.info({ reqId: request.id, method: request.method, route: 'unmatched', status: answer.status, code: answer.code }, 'request');
      return send(reply, answer);
    },
  } as FastifyServerOptions & FastifyHttpOptions<never>;
}
