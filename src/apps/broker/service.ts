/**
 * The service listener: the token API and the proxy.
 *
 *   GET  /v1/tokens/:provider             ─ admission ─ tokens.getToken                      (routes/tokens.ts)
 *   POST /v1/tokens/:provider/invalidate  ─ admission ─ the consumer's allowance ─ tokens.invalidate ─ getToken
 *                                                                                          (routes/invalidate.ts)
 *   ANY  /v1/proxy/:provider/*            ─ admission ─ the consumer's allow rules ─ call budget ─ upstream
 *                                                                                          (proxy/index.ts)
 *
 * Admission: at the listener, the request id, size and time limits and TLS (admission/listener.ts);
 * per route, the throttle, authentication, provider, allow-list and consumer rate (admission/admit.ts).
 * Every answer carries `x-request-id`; every token answer gets one audit line (written when the answer
 * is sent, with its latency); every answer is counted for `/metrics` (request-record.ts).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { createAdmission } from './admission/admit.js';
import { listenerOptions } from './admission/listener.js';
import type { RouteDeps, ServiceDeps } from './deps.js';
import { setErrorAnswers } from './reply.js';
import { recordAnswer } from './request-record.js';
import { registerInvalidateRoute } from './routes/invalidate.js';
import { registerTokenRoute } from './routes/tokens.js';
import { ProxyMetrics, registerProxyRoutes } from './proxy/index.js';
import { send } from './reply.js';

export type { LiveConfig, ServiceDeps } from './deps.js';

/** Builds the service listener (not listening yet). */
export function buildServiceApp(deps: ServiceDeps): FastifyInstance {
  const app = Fastify(listenerOptions(deps)) as unknown as FastifyInstance;
  app.decorateRequest('brokerAudit', undefined);
  app.decorateRequest('brokerRoute', undefined);
  app.addHook('onResponse', recordAnswer(deps));
  setErrorAnswers(app, deps.limits);

  // The routes: one line each.
  const routeDeps: RouteDeps = { ...deps, admit: createAdmission(deps) };
  registerTokenRoute(app, routeDeps);
  registerInvalidateRoute(app, routeDeps);
  // The proxy (docs/proxy.md): its routes, with this listener's admission and answers.
  registerProxyRoutes(app, {
    ...deps.proxy,
    tokens: deps.tokens,
    tokenTimeoutMs: deps.limits.requestTimeoutMs,
    providers: () => deps.live().providers,
    admit: routeDeps.admit,
    send,
    metrics: new ProxyMetrics(deps.metrics.registry),
    audit: deps.audit,
  });
  return app;
}
