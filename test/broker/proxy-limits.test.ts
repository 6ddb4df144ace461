/**
 * The proxy under bad input and bad upstreams, against a loopback upstream that records what it got:
 * path traversal in every encoding, absolute URLs, the consumer's credentials (never forwarded),
 * oversize headers and bodies, an upstream that hangs, resets, sends 10 MB or headers too large, and a
 * 401 on a streamed body. Each gets a typed answer; requests are sent raw (fetch would normalise paths).
 */
import { request as httpRequest, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyDigest, type BrokerConfig } from '../../src/apps/broker/index.js';
import { makeCertificates } from '../interop/certificates.js';
import { AUTOPAY_CLIENT, startHarness, type BrokerHarness } from './helpers.js';

/** A key nobody could mistake for anything else: it must never reach the upstream. */
const KEY = 'tbk_distinctive_consumer_key_9c8b7a6f5e4d3c2b1a0f';
const COOKIE = 'session=consumer-cookie-4f3e2d1c';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  bytes: number;
}

async function startUpstream(): Promise<{ url: string; seen: Seen[]; resets: () => number; close(): Promise<void> }> {
  const seen: Seen[] = [];
  let resets = 0;
  const ten = Buffer.alloc(10 * 1024 * 1024, 'x');
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0]!;
    if (path === '/api/reset') {
      resets++;
      req.socket.destroy();
      return;
    }
    if (path === '/api/hang') return; // never answers
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, bytes });
      if (path === '/api/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': ten.length });
        res.end(ten);
      } else if (path === '/api/big-chunked') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(ten);
      } else if (path === '/api/huge-headers') {
        res.writeHead(200, { 'x-huge': 'h'.repeat(40_000) });
        res.end('{}');
      } else if (path === '/api/unavailable') {
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' });
        res.end('{"error":"maintenance"}');
      } else if (path === '/api/unauthorized') {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' });
        res.end('{"error":"invalid_token"}');
      } else {
        res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'upstream=1', connection: 'keep-alive', 'keep-alive': 'timeout=5' });
        res.end(JSON.stringify({ ok: true, method: req.method, url: req.url, bytes }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    resets: () => resets,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Raw {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** One request exactly as written (path bytes untouched). */
function raw(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<Raw> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, method, path, headers: { 'x-api-key': KEY, ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const json = (answer: Raw): { error?: { code: string; message: string } } & Record<string, unknown> => JSON.parse(answer.body.toString('utf8')) as never;

/** The broker config of these tests: one autopay provider whose API base is `apiBaseUrl`, one consumer (KEY), and `extra`. */
function proxiedTo(emulator: { autopayTokenUrl: string }, apiBaseUrl: string, extra: Partial<BrokerConfig> = {}): BrokerConfig {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    ops: { host: '127.0.0.1', port: 0 },
    store: { type: 'memory' },
    providers: {
      up: { type: 'autopay', clientId: AUTOPAY_CLIENT.clientId, clientSecretEnv: 'AUTOPAY_SECRET', tokenUrl: emulator.autopayTokenUrl, apiBaseUrl },
    },
    consumers: [{ name: 'svc', keySha256: keyDigest(KEY), providers: ['up'] }],
    ...extra,
  };
}

describe('broker proxy: bad input and bad upstreams', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let harness: BrokerHarness;
  beforeAll(async () => {
    upstream = await startUpstream();
    harness = await startHarness({
      config: (emulator) =>
        proxiedTo(emulator, `${upstream.url}/api`, {
          limits: { maxHeaderBytes: 8192 },
          proxy: { maxBodyBytes: 256 * 1024, replayBufferBytes: 1024, responseTimeoutMs: 500, maxResponseHeaderBytes: 16_384 },
          tokens: { retry: { attempts: 1 } },
        }),
    });
  });
  afterAll(async () => {
    await harness.close();
    await upstream.close();
  });

  it('forwards under the API base, with the query; the consumer’s credentials and hop-by-hop headers stay behind', async () => {
    const answer = await raw(harness.url, 'GET', '/v1/proxy/up/things/a%20b?x=1&y=%2F', {
      authorization: `Bearer ${KEY}`,
      cookie: COOKIE,
      connection: 'x-private',
      'x-private': 'hop',
      forwarded: 'for=6.6.6.6',
      'x-forwarded-for': '6.6.6.6',
      dpop: 'consumer-proof',
      'x-custom': 'kept',
      'x-request-id': 'req-from-consumer-1',
    });
    expect(answer.status).toBe(200);
    expect(json(answer)).toMatchObject({ url: '/api/things/a%20b?x=1&y=%2F' });
    const got = upstream.seen.at(-1)!;
    expect(got.headers.authorization).toMatch(/^Bearer /);
    expect(got.headers.authorization).not.toContain(KEY);
    expect(got.headers.host).toBe(new URL(upstream.url).host);
    expect(got.headers['x-custom']).toBe('kept');
    expect(got.headers['x-request-id']).toBe('req-from-consumer-1');
    for (const name of ['cookie', 'x-api-key', 'x-private', 'forwarded', 'x-forwarded-for', 'dpop']) expect(got.headers[name]).toBeUndefined();
    // Back to the consumer: no Set-Cookie, no hop-by-hop headers, the request id.
    expect(answer.headers['set-cookie']).toBeUndefined();
    expect(answer.headers['keep-alive']).not.toBe('timeout=5');
    expect(answer.headers['x-request-id']).toBe('req-from-consumer-1');
    // The upstream never saw the key, anywhere.
    expect(JSON.stringify(upstream.seen)).not.toContain(KEY);
    expect(JSON.stringify(upstream.seen)).not.toContain('consumer-cookie');
    // The query is not logged.
    expect(harness.logs.join('\n')).not.toContain('x=1');
  });

  it.each([
    ['/../secret', 'dot_segment'],
    ['/a/../../secret', 'dot_segment'],
    ['/%2e%2e/secret', 'dot_segment'],
    ['/%2E%2e/secret', 'dot_segment'],
    ['/.%2e/secret', 'dot_segment'],
    ['/./secret', 'dot_segment'],
    ['/a%2f..%2fsecret', 'encoded slash'],
    ['/a%2F%2E%2E%2Fsecret', 'encoded slash'],
    ['/a%5c..%5csecret', 'encoded backslash'],
    ['/%252e%252e/secret', 'double encoding'],
    ['/%25252e/secret', 'double encoding'],
    ['/a\\..\\secret', 'backslash'],
    ['//evil.example/secret', 'scheme-relative'],
    ['/http://evil.example/secret', 'absolute URL'],
    ['/https:%2f%2fevil.example', 'absolute URL, encoded'],
    ['/%00/secret', 'NUL'],
    ['/%zz', 'malformed encoding'],
  ])('refuses %s (%s) with 400, sending nothing upstream', async (path) => {
    const before = upstream.seen.length;
    const answer = await raw(harness.url, 'GET', `/v1/proxy/up${path}`);
    expect(answer.status).toBe(400);
    // Malformed encoding is the router's to refuse (bad_request); everything else the proxy's (bad_path).
    expect(json(answer).error?.code).toBe(path === '/%zz' ? 'bad_request' : 'bad_path');
    expect(upstream.seen.length).toBe(before);
  });

  it('an absolute-form request target is not routed to the proxy', async () => {
    const before = upstream.seen.length;
    const answer = await raw(harness.url, 'GET', `${upstream.url}/api/secret`);
    expect(answer.status).toBe(404);
    expect(upstream.seen.length).toBe(before);
  });

  it('oversize request headers: 431 headers_too_large', async () => {
    const answer = await raw(harness.url, 'GET', '/v1/proxy/up/x', { 'x-big': 'b'.repeat(10_000) });
    expect(answer.status).toBe(431);
    expect(json(answer).error?.code).toBe('headers_too_large');
  });

  it('oversize bodies: 413 payload_too_large, declared or streamed (chunked)', async () => {
    const before = upstream.seen.length;
    const declared = await raw(harness.url, 'POST', '/v1/proxy/up/x', { 'content-type': 'application/octet-stream' }, Buffer.alloc(300 * 1024));
    expect(declared.status).toBe(413);
    expect(json(declared).error?.code).toBe('payload_too_large');
    const chunked = await new Promise<Raw>((resolve, reject) => {
      const { hostname, port } = new URL(harness.url);
      const req = httpRequest({ hostname, port, method: 'PUT', path: '/v1/proxy/up/x', headers: { 'x-api-key': KEY }, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      for (let i = 0; i < 40; i++) req.write(Buffer.alloc(8 * 1024));
      req.end();
    });
    expect(chunked.status).toBe(413);
    expect(json(chunked).error?.code).toBe('payload_too_large');
    expect(upstream.seen.slice(before).every((s) => s.bytes < 300 * 1024)).toBe(true);
  });

  it('a streamed body within the limit goes through (not buffered: over replayBufferBytes)', async () => {
    const answer = await raw(harness.url, 'POST', '/v1/proxy/up/upload', { 'content-type': 'application/octet-stream' }, Buffer.alloc(100 * 1024, 1));
    expect(answer.status).toBe(200);
    expect(json(answer)).toMatchObject({ bytes: 100 * 1024 });
  });

  it('HEAD and OPTIONS go through; a GET with a body is refused', async () => {
    const head = await raw(harness.url, 'HEAD', '/v1/proxy/up/things');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(upstream.seen.at(-1)).toMatchObject({ method: 'HEAD', url: '/api/things' });
    expect((await raw(harness.url, 'OPTIONS', '/v1/proxy/up/things')).status).toBe(200);
    const withBody = await raw(harness.url, 'GET', '/v1/proxy/up/things', { 'content-type': 'application/json' }, '{"a":1}');
    expect(withBody.status).toBe(400);
    expect(json(withBody).error?.code).toBe('bad_request');
  });

  it('an upstream that hangs: 504 upstream_timeout', async () => {
    const answer = await raw(harness.url, 'GET', '/v1/proxy/up/hang');
    expect(answer.status).toBe(504);
    expect(json(answer).error?.code).toBe('upstream_timeout');
  });

  it('an upstream that resets the connection: 502 upstream_unavailable; a POST is never sent twice, a GET is retried once', async () => {
    const before = upstream.resets();
    const answer = await raw(harness.url, 'POST', '/v1/proxy/up/reset', { 'content-type': 'application/json' }, '{}');
    expect(answer.status).toBe(502);
    expect(json(answer).error?.code).toBe('upstream_unavailable');
    expect(upstream.resets() - before).toBe(1);
    const get = await raw(harness.url, 'GET', '/v1/proxy/up/reset');
    expect(get.status).toBe(502);
    expect(upstream.resets() - before).toBe(3);
  });

  it('an upstream 503 goes back as it is, sent once (the library would retry a GET ten times)', async () => {
    const before = upstream.seen.filter((s) => s.url === '/api/unavailable').length;
    const answer = await raw(harness.url, 'GET', '/v1/proxy/up/unavailable');
    expect(answer.status).toBe(503);
    expect(json(answer)).toEqual({ error: 'maintenance' });
    expect(upstream.seen.filter((s) => s.url === '/api/unavailable').length - before).toBe(1);
  });

  it('an upstream whose headers are too large: 502 upstream_invalid_response', async () => {
    const answer = await raw(harness.url, 'GET', '/v1/proxy/up/huge-headers');
    expect(answer.status).toBe(502);
    expect(json(answer).error?.code).toBe('upstream_invalid_response');
  });

  it('10 MB from upstream streams through byte for byte (chunked too) within the default limit', async () => {
    const answer = await raw(harness.url, 'GET', '/v1/proxy/up/big');
    expect(answer.status).toBe(200);
    expect(answer.body.length).toBe(10 * 1024 * 1024);
    const chunked = await raw(harness.url, 'GET', '/v1/proxy/up/big-chunked');
    expect(chunked.body.length).toBe(10 * 1024 * 1024);
    const audit = harness.logs.filter((line) => line.includes('"path":"/big-chunked"')).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(audit[0]).toMatchObject({ bytesOut: 10 * 1024 * 1024 });
  });

  it('a 401 on a streamed body goes back unreplayed, with a header saying why; the token is dropped', async () => {
    const issued = harness.broker.tokens.stats().byProvider.up!.tokensIssued.invalidated;
    const answer = await raw(harness.url, 'POST', '/v1/proxy/up/unauthorized', { 'content-type': 'application/octet-stream' }, Buffer.alloc(4096));
    expect(answer.status).toBe(401);
    expect(answer.headers['x-tokenbroker-replay']).toMatch(/not replayed.*streamed/);
    // A small body is replayed once; the upstream still says 401, which then goes back.
    const small = await raw(harness.url, 'POST', '/v1/proxy/up/unauthorized', { 'content-type': 'application/json' }, '{}');
    expect(small.status).toBe(401);
    expect(small.headers['x-tokenbroker-replay']).toBeUndefined();
    expect(harness.broker.tokens.stats().byProvider.up!.tokensIssued.invalidated).toBeGreaterThan(issued);
  });
});

describe('broker proxy: response size limit', () => {
  it('an answer over proxy.maxResponseBytes: 502 when declared, the connection cut when chunked', async () => {
    const upstream = await startUpstream();
    const harness = await startHarness({
      config: (emulator) =>
        proxiedTo(emulator, `${upstream.url}/api`, {
          proxy: { maxResponseBytes: 1024 * 1024 },
        }),
    });
    try {
      const declared = await raw(harness.url, 'GET', '/v1/proxy/up/big');
      expect(declared.status).toBe(502);
      expect(json(declared).error?.code).toBe('upstream_response_too_large');
      await expect(raw(harness.url, 'GET', '/v1/proxy/up/big-chunked').then((a) => a.body.length)).rejects.toThrow();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(harness.logs.join('\n')).toMatch(/"path":"\/big-chunked".*"code":"upstream_response_too_large"/);
    } finally {
      await harness.close();
      await upstream.close();
    }
  });
});

describe('broker proxy: the upstream certificate is checked', () => {
  it('an https API whose certificate no trusted CA signed: 502 upstream_unavailable, nothing sent', async () => {
    const certs = makeCertificates();
    let reached = 0;
    const api = createHttpsServer({ cert: certs.serverCert, key: certs.serverKey }, (_req, res) => {
      reached++;
      res.end('{}');
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const harness = await startHarness({
      config: (emulator) => proxiedTo(emulator, `https://127.0.0.1:${(api.address() as AddressInfo).port}/api`),
    });
    try {
      const answer = await raw(harness.url, 'GET', '/v1/proxy/up/x');
      expect(answer.status).toBe(502);
      expect(json(answer).error?.code).toBe('upstream_unavailable');
      expect(reached).toBe(0);
    } finally {
      await harness.close();
      api.closeAllConnections();
      await new Promise((resolve) => api.close(resolve));
    }
  });
});

describe('broker proxy: slow uploads', () => {
  it('a body that does not arrive within limits.requestTimeoutMs is cut off', async () => {
    const upstream = await startUpstream();
    const harness = await startHarness({
      config: (emulator) =>
        proxiedTo(emulator, `${upstream.url}/api`, {
          limits: { requestTimeoutMs: 500 },
          proxy: { replayBufferBytes: 0 },
        }),
    });
    try {
      const { hostname, port } = new URL(harness.url);
      const outcome = await new Promise<string>((resolve) => {
        const req = httpRequest({ hostname, port, method: 'PUT', path: '/v1/proxy/up/slow', headers: { 'x-api-key': KEY }, agent: false }, (res) => {
          res.resume();
          resolve(`status ${res.statusCode}`);
        });
        req.on('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code}`));
        let sent = 0;
        const timer = setInterval(() => {
          if (req.destroyed || sent++ > 20) {
            clearInterval(timer);
            req.end();
            return;
          }
          req.write(Buffer.alloc(10));
        }, 150);
      });
      expect(outcome).toMatch(/^(status 408|error E(CONNRESET|PIPE))$/);
      expect(upstream.seen.filter((s) => s.url === '/api/slow' && s.bytes >= 200)).toEqual([]);
    } finally {
      await harness.close();
      await upstream.close();
    }
  });
});
