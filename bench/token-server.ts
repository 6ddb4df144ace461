/**
 * A minimal RFC 6749 token server on loopback for the benchmarks: any `POST …/token` answers a fresh
 * Bearer token (client_credentials or refresh_token grant, credentials in Basic or in the body — every
 * peer is accepted as it speaks), and counts what it was sent. `GET /api/…` answers a small JSON body
 * for the client-overhead measurement. `GET /_bench/stats` answers the counters, `POST` reads and
 * resets them. Nothing here ever leaves 127.0.0.1.
 *
 * `spawnTokenServer()` runs it in a child process (bench/token-server-child.ts), so that its CPU and
 * its sockets are not the measured process's: a stampede of 10,000 connections would otherwise count
 * twice against the measured process's file-descriptor limit.
 */
import { randomBytes } from 'node:crypto';
import { fork } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TokenServer {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** `${origin}/oauth2/token` */
  readonly tokenUrl: string;
  /** Token requests received since the last `resetCount()`. */
  readonly tokenRequests: number;
  /** API requests received. */
  readonly apiRequests: number;
  resetCount(): void;
  close(): Promise<void>;
}

export interface TokenServerOptions {
  /** `expires_in` of the tokens it issues (default 3600). */
  readonly expiresInSeconds?: number;
}

const API_BODY = JSON.stringify({ data: [{ id: 'cus_1', name: 'Ada' }], has_next_page: false });

export async function startTokenServer(options: TokenServerOptions = {}): Promise<TokenServer> {
  const expiresIn = options.expiresInSeconds ?? 3600;
  let tokenRequests = 0;
  let apiRequests = 0;

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const url = (request.url ?? '/').split('?')[0]!;
    if (request.method === 'POST' && url.endsWith('/token')) {
      tokenRequests++;
      // Drain the body (the grant is not checked: every peer speaks its own dialect of the same grant).
      request.resume();
      request.on('end', () => {
        const body = JSON.stringify({
          access_token: randomBytes(28).toString('hex'),
          token_type: 'Bearer',
          expires_in: expiresIn,
        });
        response.writeHead(200, {
          'content-type': 'application/json',
          'cache-control': 'no-store',
          'content-length': Buffer.byteLength(body),
        });
        response.end(body);
      });
      return;
    }
    if (url === '/_bench/close-idle' && request.method === 'POST') {
      request.resume();
      response.writeHead(200, { 'content-type': 'application/json', connection: 'close' });
      response.end('{}');
      server.closeIdleConnections();
      return;
    }
    if (url === '/_bench/stats') {
      request.resume();
      const body = JSON.stringify({ tokenRequests, apiRequests });
      if (request.method === 'POST') {
        tokenRequests = 0;
        apiRequests = 0;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(body);
      return;
    }
    if (request.method === 'GET' && url.startsWith('/api/')) {
      apiRequests++;
      request.resume();
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(API_BODY) });
      response.end(API_BODY);
      return;
    }
    request.resume();
    response.writeHead(404, { 'content-type': 'application/json' });
    response.end('{"error":"not_found"}');
  });
  // A stampede of peers without single-flight opens thousands of connections at once.
  server.maxConnections = 50_000;
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 16_384 }, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    tokenUrl: `${origin}/oauth2/token`,
    get tokenRequests() {
      return tokenRequests;
    },
    get apiRequests() {
      return apiRequests;
    },
    resetCount() {
      tokenRequests = 0;
      apiRequests = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The same server, out of process; its counters are read over HTTP. */
export interface RemoteTokenServer {
  readonly origin: string;
  readonly tokenUrl: string;
  /** Token requests since the last reset. */
  tokenRequests(): Promise<number>;
  /** Reads and resets the counters. */
  reset(): Promise<{ tokenRequests: number; apiRequests: number }>;
  /** Closes the server side of idle keep-alive connections (a previous stampede's thousands of sockets). */
  closeIdle(): Promise<void>;
  close(): Promise<void>;
}

export async function spawnTokenServer(): Promise<RemoteTokenServer> {
  const child = fork(new URL('./token-server-child.ts', import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const origin = await new Promise<string>((resolve, reject) => {
    child.once('message', (message) => resolve(String((message as { origin: string }).origin)));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`token server exited with ${code}`)));
  });
  const stats = async (method: 'GET' | 'POST') => {
    const response = await fetch(`${origin}/_bench/stats`, { method });
    return (await response.json()) as { tokenRequests: number; apiRequests: number };
  };
  return {
    origin,
    tokenUrl: `${origin}/oauth2/token`,
    tokenRequests: async () => (await stats('GET')).tokenRequests,
    reset: () => stats('POST'),
    closeIdle: async () => {
      await (await fetch(`${origin}/_bench/close-idle`, { method: 'POST' })).text();
      await new Promise((resolve) => setTimeout(resolve, 300));
    },
    close: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
