/**
 * How an `oauth2()` provider reaches the network: the caller's `fetch`, the global one with an undici
 * `dispatcher`, or — for mutual TLS with `tls: { cert, key, ca? }` — a small fetch over `node:https`
 * that presents the client certificate (no undici package needed at run time).
 *
 * The same transport carries the token request, discovery and the authorised API client.
 */

/** A `fetch`-compatible function. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** The client certificate of mutual TLS (RFC 8705), PEM. */
export interface TlsClientCertificate {
  /** The client certificate chain, PEM. */
  readonly cert: string | Buffer;
  /** Its private key, PEM. Kept only inside the transport; never shown. */
  readonly key: string | Buffer;
  /** CA certificates to trust for the server, PEM, when not the system's. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
}

/** What the options say about the transport. */
export interface TransportOptions {
  readonly fetch?: FetchLike | undefined;
  readonly dispatcher?: object | undefined;
  readonly tls?: TlsClientCertificate | undefined;
}

/**
 * The fetch to use. A `dispatcher` is handed to `fetch` in its init (Node's fetch and undici's accept
 * it); `tls` gets its own fetch over `node:https`.
 */
export function transportFetch(options: TransportOptions): FetchLike {
  if (options.tls !== undefined) return tlsFetch(options.tls);
  const { fetch: own, dispatcher } = options;
  if (own === undefined && dispatcher === undefined) return (input, init) => globalThis.fetch(input, init);
  // Another fetch (undici's own, say) may not know this realm's Request: it gets a URL and an init.
  const base: FetchLike =
    own === undefined
      ? (input, init) => globalThis.fetch(input, init)
      : async (input, init) => (input instanceof Request ? own(input.url, await initOf(input, init)) : own(input, init));
  if (dispatcher === undefined) return base;
  return (input, init) => base(input, { ...init, dispatcher } as RequestInit);
}

async function initOf(request: Request, init: RequestInit | undefined): Promise<RequestInit> {
  return {
    method: request.method,
    headers: [...request.headers],
    body: request.body === null ? undefined : await request.arrayBuffer(),
    redirect: request.redirect,
    signal: request.signal,
    ...init,
  };
}

/**
 * A fetch over `node:https` presenting a client certificate. Only what token requests and API calls
 * need: method, headers, a body, a signal, no redirects followed (a 3xx is returned as it is).
 */
function tlsFetch(tls: TlsClientCertificate): FetchLike {
  const { cert, key } = tls;
  const ca = tls.ca === undefined ? undefined : Array.isArray(tls.ca) ? [...(tls.ca as (string | Buffer)[])] : (tls.ca as string | Buffer);
  return async (input, init) => {
    const request = input instanceof Request && init === undefined ? input : new Request(input, init);
    const body = request.body === null ? undefined : Buffer.from(await request.arrayBuffer());
    const url = new URL(request.url);
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    if (body !== undefined) headers['content-length'] = String(body.byteLength);
    // Loaded on the first request, not with the package: only mutual-TLS providers use this path.
    const { Readable } = process.getBuiltinModule('node:stream');
    const send = url.protocol === 'https:' ? process.getBuiltinModule('node:https').request : process.getBuiltinModule('node:http').request;
    return new Promise<Response>((resolve, reject) => {
      const outgoing = send(
        url,
        { method: request.method, headers, signal: request.signal, ...(url.protocol === 'https:' ? { cert, key, ca } : {}) },
        (incoming) => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(incoming.headers)) {
            if (value === undefined) continue;
            for (const one of Array.isArray(value) ? value : [value]) responseHeaders.append(name, one);
          }
          const status = incoming.statusCode ?? 502;
          const empty = status === 204 || status === 205 || status === 304 || request.method === 'HEAD';
          if (empty) incoming.resume();
          resolve(
            new Response(empty ? null : (Readable.toWeb(incoming) as ReadableStream<Uint8Array>), {
              status,
              statusText: incoming.statusMessage,
              headers: responseHeaders,
            }),
          );
        },
      );
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  };
}
