/**
 * Admission of a consumer request, in order: the API key or client certificate (failures throttled
 * per client IP, a valid key never refused for its address), the provider id, the consumer's allow-list, the consumer's request
 * rate. Each refusal is sent here and recorded for the audit line.
 */
import type { TLSSocket } from 'node:tls';
import { authenticate, authenticateCertificate, presentedKey, type Authentication } from '../auth.js';
import type { Consumer } from '../config.js';
import type { Admit, ServiceDeps } from '../deps.js';
import { INVALID_KEY, UNAUTHENTICATED } from '../errors.js';
import { send } from '../reply.js';
import type { AuditFields } from '../request-record.js';
import { anonymousOf, rawTokenRefusal } from '../proxy/consumers.js';
import { PROXY_ROUTE } from '../proxy/index.js';
import { FAILED_AUTH_THROTTLED, FailedAuthThrottle, throttledAnswer, WindowCounter } from '../throttle.js';

/** The admission of one service listener (its throttle windows and key cache live as long as it). */
export function createAdmission(deps: Pick<ServiceDeps, 'limits' | 'tls' | 'live'>): Admit {
  const { limits } = deps;
  const clientCertificates = deps.tls?.ca !== undefined;
  const failedAuth = new FailedAuthThrottle(limits.failedAuthPerIp, limits.failedAuthWindowMs);
  const authenticateCached = keyCache();
  const rateFor = consumerRates();

  return function admit(request, reply, route) {
    request.brokerRoute = route;
    const fields: AuditFields = { consumer: undefined, keyId: undefined, provider: undefined, outcome: 'refused', code: undefined, token: undefined };
    request.brokerAudit = fields;
    const { consumers, providerIds, proxyOnlyProviders } = deps.live();
    const key = presentedKey(request.headers.authorization, request.headers['x-api-key']);
    const byCertificate = clientCertificates ? authenticateCertificate(consumers, request.raw.socket as TLSSocket) : undefined;
    const found =
      byCertificate ??
      (key === undefined ? anonymousOf(consumers, request.headers.authorization, request.headers['x-api-key']) : authenticateCached(consumers, key));
    if (found?.consumer === undefined) {
      // Only failures are throttled: a valid key from the same address is answered normally (above).
      const verdict = failedAuth.fail(request.ip);
      fields.keyId = found?.keyId;
      if (verdict.retryAfterMs > 0) {
        fields.code = 'too_many_failed_authentications';
        fields.silent = !verdict.logged;
        if (verdict.logged) request.log.warn({ ip: request.ip, limit: limits.failedAuthPerIp }, FAILED_AUTH_THROTTLED);
        send(reply, throttledAnswer(verdict.retryAfterMs));
        return undefined;
      }
      fields.code = key === undefined ? 'unauthenticated' : 'invalid_key';
      reply.header('www-authenticate', 'Bearer realm="tokenbroker"');
      send(reply, key === undefined ? UNAUTHENTICATED : INVALID_KEY);
      return undefined;
    }
    const { consumer, keyId } = found;
    fields.consumer = consumer.name;
    fields.keyId = keyId;
    const id = request.params.provider;
    if (!providerIds.has(id)) {
      fields.code = 'unknown_provider';
      send(reply, { status: 404, code: 'unknown_provider', message: `No provider is configured under ${JSON.stringify(id)}` });
      return undefined;
    }
    fields.provider = id;
    if (!consumer.providers.has(id)) {
      fields.code = 'provider_not_allowed';
      send(reply, { status: 403, code: 'provider_not_allowed', message: `Consumer "${consumer.name}" may not get tokens for "${id}"` });
      return undefined;
    }
    const noRawToken = route === PROXY_ROUTE ? undefined : rawTokenRefusal(consumer, id, proxyOnlyProviders);
    if (noRawToken !== undefined) {
      fields.code = noRawToken.code;
      send(reply, noRawToken);
      return undefined;
    }
    if (consumer.requestsPerMinute !== undefined) {
      const counter = rateFor(consumer);
      const limitedMs = counter.retryAfterMs(consumer.name);
      if (limitedMs > 0) {
        fields.code = 'consumer_rate_limited';
        send(reply, {
          status: 429,
          code: 'consumer_rate_limited',
          message: `Consumer "${consumer.name}" is over its ${consumer.requestsPerMinute} requests per minute`,
          retryAfterSeconds: Math.ceil(limitedMs / 1000),
        });
        return undefined;
      }
      counter.hit(consumer.name);
    }
    return consumer;
  };
}

/**
 * Keys that authenticated, and whose: a hit skips the SHA-256 and the comparisons. Only successes are
 * kept, so a guess always takes the full constant-time path; a hit is faster, but it only happens for
 * a right key, which the answer (200 rather than 401) reveals anyway. Emptied when the consumers
 * change (reload) and when full; the keys it holds are in this process's memory already (headers).
 */
function keyCache(): (consumers: readonly Consumer[], key: string) => Authentication {
  let cache = { consumers: undefined as readonly Consumer[] | undefined, byKey: new Map<string, Authentication>() };
  return (consumers, key) => {
    if (cache.consumers !== consumers) cache = { consumers, byKey: new Map() };
    const cached = cache.byKey.get(key);
    if (cached !== undefined) return cached;
    const found = authenticate(consumers, key);
    if (found.consumer !== undefined) {
      if (cache.byKey.size >= 1024) cache.byKey.clear();
      cache.byKey.set(key, found);
    }
    return found;
  };
}

/** Per consumer with `requestsPerMinute`, its window (made anew when a reload changes the consumer). */
function consumerRates(): (consumer: Consumer) => WindowCounter {
  const rates = new WeakMap<Consumer, WindowCounter>();
  return (consumer) => {
    let counter = rates.get(consumer);
    if (counter === undefined) rates.set(consumer, (counter = new WindowCounter(consumer.requestsPerMinute!, 60_000, 1)));
    return counter;
  };
}
