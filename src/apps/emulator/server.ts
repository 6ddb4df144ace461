// Plain node:http, not a framework: the emulator must control every byte of the wire (exact status
// codes, header spellings, bodies a framework would "helpfully" rewrite, such as its own 400/404/413
// answers), and its half a dozen fixed routes need no router.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as alternativePayments from './alternative-payments.js';
import * as autopay from './autopay.js';
import * as control from './control.js';
import type { EmulatorState } from './state.js';
import { readBody, sendJson, type RequestBody } from './wire.js';

type Handler = (state: EmulatorState, request: IncomingMessage, response: ServerResponse, body: RequestBody, url: URL) => void | Promise<void>;

/** Which provider a path belongs to, so even a 404 or 405 speaks that provider's error dialect. */
type Area = 'alternative-payments' | 'autopay-auth' | 'autopay' | 'control';

interface Route {
  area: Area;
  methods: Partial<Record<string, Handler>>;
}

// One server stands in for three hosts (AP's API host, Autopay's auth host, Autopay's API host), so
// each gets a path prefix; the providers' own paths follow it unchanged.
/** Stands for `https://public-api.alternativepayments.io`. */
export const ALTERNATIVE_PAYMENTS_PREFIX = '/alternative-payments';
/** Stands for `https://api-auth.autopay.io`. */
export const AUTOPAY_AUTH_PREFIX = '/autopay-auth';
/** Stands for `https://api.autopay.io`. */
export const AUTOPAY_API_PREFIX = '/autopay';

const ROUTES = new Map<string, Route>([
  [`${ALTERNATIVE_PAYMENTS_PREFIX}/oauth/token`, { area: 'alternative-payments', methods: { POST: alternativePayments.handleToken } }],
  [
    `${ALTERNATIVE_PAYMENTS_PREFIX}/customers`,
    {
      area: 'alternative-payments',
      methods: { GET: (state, request, response, _body, url) => alternativePayments.handleListCustomers(state, request, response, url) },
    },
  ],
  [`${AUTOPAY_AUTH_PREFIX}/oauth/token`, { area: 'autopay-auth', methods: { POST: autopay.handleToken } }],
  [`${AUTOPAY_API_PREFIX}/customer_club/v2/join`, { area: 'autopay', methods: { POST: autopay.handleJoinCustomerClub } }],
  ['/_emulator/stats', { area: 'control', methods: { GET: control.handleStats } }],
  ['/_emulator/reset', { area: 'control', methods: { POST: control.handleReset } }],
  ['/_emulator/revoke', { area: 'control', methods: { POST: control.handleRevoke } }],
  ['/_emulator/configure', { area: 'control', methods: { POST: control.handleConfigure } }],
  ['/_emulator/rotate-secret', { area: 'control', methods: { POST: control.handleRotateSecret } }],
]);

function areaOf(path: string): Area {
  if (path.startsWith(`${ALTERNATIVE_PAYMENTS_PREFIX}/`)) return 'alternative-payments';
  if (path.startsWith(`${AUTOPAY_AUTH_PREFIX}/`)) return 'autopay-auth';
  if (path.startsWith(`${AUTOPAY_API_PREFIX}/`)) return 'autopay';
  return 'control';
}

/** An error body in the dialect of the provider that owns the path. */
function errorBody(area: Area, code: string, message: string): Record<string, string> {
  switch (area) {
    case 'alternative-payments':
      return { code, message };
    case 'autopay-auth':
      return { error: code, error_description: message };
    case 'autopay':
      return { error_id: code, message };
    case 'control':
      return { error: code, message };
  }
}

async function answer(state: EmulatorState, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://emulator.invalid');
  const method = request.method ?? 'GET';
  const route = ROUTES.get(url.pathname);
  const body = await readBody(request);
  if (route === undefined) {
    sendJson(response, 404, errorBody(areaOf(url.pathname), 'not_found', `No such route: ${method} ${url.pathname.slice(0, 200)}`));
    return;
  }
  const handler = route.methods[method];
  if (handler === undefined) {
    const allowed = Object.keys(route.methods).join(', ');
    sendJson(response, 405, errorBody(route.area, 'method_not_allowed', `Use ${allowed}`), { allow: allowed });
    return;
  }
  await handler(state, request, response, body, url);
}

/** An HTTP server answering as both providers, started on `host:port`. Resolves once listening. */
export async function listen(state: EmulatorState, host: string, port: number): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    answer(state, request, response).catch((error: unknown) => {
      // A request cut short by close() (its latency sleep aborted, its socket gone) needs no answer.
      if (state.closing.signal.aborted) return;
      // Only the error's class name: its message could quote request data.
      const name = error instanceof Error ? error.name : 'Error';
      sendJson(response, 500, { error: 'internal_error', message: `The emulator failed to answer (${name})` });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostInUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { server, url: `http://${hostInUrl}:${address.port}` };
}

/** Stops accepting, drops idle and active keep-alive sockets, and resolves when the server is closed. */
export function shutdown(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error === undefined ? resolve() : reject(error)));
    server.closeAllConnections();
  });
}
