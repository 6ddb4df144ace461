/**
 * What is recorded of each answered request, in one `onResponse` hook: the request count (by route
 * pattern and status), the per-consumer count and latency, and one line — the audit line for a token
 * request (it has every field of the access line), else the access line.
 */
import type { FastifyReply, FastifyRequest, onResponseHookHandler } from 'fastify';
import type { Token } from '../../base/token.js';
import { fingerprint } from './audit.js';
import type { ServiceDeps } from './deps.js';
import { PROXY_ROUTE } from './proxy/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** What the audit line says about a token request; undefined for any other route. */
    brokerAudit: AuditFields | undefined;
    /** The route pattern, set by the handler (cheaper than `routeOptions`, which builds an object per call). */
    brokerRoute: string | undefined;
  }
}

/** What the audit line says about one token request, filled in as the request goes. */
export interface AuditFields {
  consumer: string | undefined;
  keyId: string | undefined;
  provider: string | undefined;
  outcome: 'issued' | 'invalidated' | 'refused';
  code: string | undefined;
  token: Token | undefined;
  /** No log or audit line (a failed authentication past the throttle's limit: see FailedAuthThrottle). */
  silent?: boolean;
}

/** Marks a token request refused with `code` (for its audit line). */
export function refuse(request: FastifyRequest, code: string): void {
  const fields = request.brokerAudit!;
  fields.outcome = 'refused';
  fields.code = code;
}

/**
 * The `onResponse` hook. Callback-style (not async): no promise per request on the hot path.
 * `x-request-id` is set where each answer is made (`send`, the token answer) rather than in one more
 * hook per request.
 */
export function recordAnswer({ metrics, audit }: Pick<ServiceDeps, 'metrics' | 'audit'>): onResponseHookHandler {
  return (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const route = request.brokerRoute ?? request.routeOptions.url ?? 'unmatched';
    metrics.request(route, reply.statusCode);
    // A proxied call has its own audit line and metrics (proxy/index.ts).
    if (route === PROXY_ROUTE) return done();
    const fields = request.brokerAudit;
    if (fields?.silent === true) return done();
    if (fields !== undefined && fields.consumer !== undefined && fields.provider !== undefined) {
      metrics.consumerRequest(
        fields.consumer,
        fields.provider,
        fields.outcome === 'refused' ? (fields.code ?? 'refused') : fields.outcome,
        reply.elapsedTime / 1000,
      );
    }
    if (fields !== undefined && audit !== undefined) {
      // A token request is recorded once, by the audit line (it has every field of the access line).
      audit.write({
        reqId: request.id,
        consumer: fields.consumer,
        keyId: fields.keyId,
        ip: request.ip,
        provider: fields.provider,
        outcome: fields.outcome,
        code: fields.code,
        status: reply.statusCode,
        fingerprint: fields.token === undefined ? undefined : fingerprint(fields.token),
        latencyMs: Math.round(reply.elapsedTime * 1000) / 1000,
      });
    } else {
      request.log.info(
        {
          reqId: request.id,
          method: request.method,
          route,
          status: reply.statusCode,
          durationMs: Math.round(reply.elapsedTime * 1000) / 1000,
          consumer: fields?.consumer,
          provider: fields?.provider,
        },
        'request',
      );
    }
    done();
  };
}
