/**
 * What the proxy changes in admission to the token routes: the sidecar's anonymous consumer, and the
 * consumers and providers that get no raw token.
 */
import type { Authentication } from '../auth.js';
import type { Consumer } from '../config.js';
import type { BrokerError } from '../errors.js';

/** The sidecar's anonymous consumer, for a request that presents no key at all (not even a malformed one). */
export function anonymousOf(consumers: readonly Consumer[], authorization: string | undefined, apiKey: unknown): Authentication | undefined {
  if (authorization !== undefined || apiKey !== undefined) return undefined;
  const consumer = consumers.find((c) => c.anonymous);
  return consumer === undefined ? undefined : { consumer, keyId: 'anonymous' };
}

/**
 * Why `consumer` gets no raw token of provider `id`, or undefined: a DPoP-bound provider (its tokens are
 * useless without the broker's key, and must never travel as Bearer) or a proxy-only consumer.
 */
export function rawTokenRefusal(consumer: Consumer, id: string, proxyOnlyProviders: ReadonlySet<string>): BrokerError | undefined {
  if (proxyOnlyProviders.has(id)) {
    return {
      status: 403,
      code: 'proxy_only',
      message: `Provider "${id}" has DPoP-bound tokens, useless without the broker's key: call it through /v1/proxy/${id}/…`,
    };
  }
  if (consumer.proxyOnly) {
    return { status: 403, code: 'proxy_only', message: `Consumer "${consumer.name}" is served through the proxy only: /v1/proxy/${id}/…` };
  }
  return undefined;
}
