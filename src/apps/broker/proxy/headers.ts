/**
 * Headers across the proxy, as a careful reverse proxy treats them (RFC 9110 §7.6.1, RFC 9112 §9.6).
 *
 * To the upstream: the consumer's own credentials (`Authorization`, `x-api-key`, cookies, a `DPoP`
 * proof), hop-by-hop headers, forwarding headers it could forge and `Expect` are dropped; `Host` is the
 * API's, `Authorization` the broker's, `x-request-id` the broker's request id. reply-from has already
 * removed `Connection` and the headers it lists.
 * Back to the consumer: hop-by-hop headers and `Set-Cookie` are dropped (a cookie the API sets belongs to
 * the broker's session with it, not to one consumer), `x-request-id` is added.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** Hop-by-hop headers (RFC 9110 §7.6.1, and the non-standard ones proxies also drop): never passed on either way. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'] as const;

const REQUEST_DROPPED = new Set<string>([
  'authorization',
  'x-api-key',
  'cookie',
  'proxy-authorization',
  'dpop',
  ...HOP_BY_HOP,
  'expect',
  'host',
  'x-request-id',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
]);

const RESPONSE_DROPPED = new Set<string>([...HOP_BY_HOP, 'set-cookie', 'proxy-authenticate']);

/** The headers sent upstream: the consumer's, filtered, plus `extra` (the broker's Authorization, Host, x-request-id). */
export function upstreamHeaders(incoming: IncomingHttpHeaders, extra: Readonly<Record<string, string>>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value !== undefined && !REQUEST_DROPPED.has(name)) out[name] = value;
  }
  for (const name in extra) out[name] = extra[name]!;
  return out;
}

/** The upstream's response headers as passed back to the consumer. */
export function consumerHeaders(upstream: Readonly<Record<string, string | string[] | undefined>>, requestId: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in upstream) {
    const value = upstream[name];
    if (value !== undefined && !RESPONSE_DROPPED.has(name)) out[name] = value;
  }
  out['x-request-id'] = requestId;
  return out;
}

/** A header record as a `Headers` (for a 429 reported to the call budget). */
export function toHeaders(record: Readonly<Record<string, string | string[] | undefined>>): Headers {
  const headers = new Headers();
  for (const name in record) {
    const value = record[name];
    if (typeof value === 'string') headers.set(name, value);
    else if (Array.isArray(value)) for (const item of value) headers.append(name, item);
  }
  return headers;
}

/** A `Headers` as a record (the DPoP path, whose upstream answer comes from fetch). */
export function fromHeaders(headers: Headers): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  headers.forEach((value, name) => {
    if (name !== 'set-cookie') out[name] = value;
  });
  return out;
}
