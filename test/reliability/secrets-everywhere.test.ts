/**
 * Issue 7, secrets: drives every error path it can reach — the three built-in providers and a custom
 * one, every fault of the fault matrix, with servers that echo back everything they received (the
 * Authorization header, the body) — and the emulator with a distinctive secret registered. Then scans
 * every output it can reach for the secrets, verbatim, URL-encoded and in Base64: errors (message,
 * stack, cause chain), util.inspect at full depth, JSON, every logger call, stats(), the emulator's
 * stats() and its HTTP /_emulator/stats, and everything written to stdout, stderr or the console.
 */
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  alternativePayments,
  autopay,
  createTokenManager,
  defineProvider,
  oauth2,
  secretFile,
  TokenError,
  type Logger,
  type Provider,
  type TokenManager,
} from '../../src/index.js';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { formUrlEncode } from '../../src/providers/shared.js';
import { startLoopbackServer, type LoopbackServer } from '../helpers/loopback-server.js';
import { everythingAbout, privateKeyForms } from '../helpers/leak-scan.js';
import { makeCertificates } from '../interop/certificates.js';

const SECRET = 'S3cr3t+/=%:&?#Zq-everywhere-7c1d';
const EMULATOR_SECRET = 'Emu+Secret/=%:-a91f-everywhere';
const CLIENT_ID = 'everywhere-client';
const forms = (secret: string) => [
  secret,
  encodeURIComponent(secret),
  formUrlEncode(secret),
  Buffer.from(secret).toString('base64'),
  Buffer.from(secret).toString('base64url'),
  Buffer.from(`${CLIENT_ID}:${secret}`).toString('base64'),
  Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${formUrlEncode(secret)}`).toString('base64'),
];
// Issue 14: a secret used only for client_secret_jwt, a private_key_jwt key, a DPoP key, a TLS client key.
const JWT_SECRET = 'JwtS3cret+/=%-hs256-everywhere-4e2b-0123456789abcdef';
const SIGNING_KEY = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const DPOP_KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const CERTIFICATES = makeCertificates();
const TLS_KEY = createPrivateKey(CERTIFICATES.clientKey);
// Issue 22: a client assertion from a source (not JWT-shaped, so only the provider's own scrubber can catch it).
const ASSERTION = 'Assertion+S3cr3t/=%-workload-9d8c';
// Issue 22: secrets read from files, written once for the whole sweep.
const SOURCE_DIR = mkdtempSync(join(tmpdir(), 'tb-everywhere-sources-'));
const sourceFile = (name: string, content: string) => {
  writeFileSync(join(SOURCE_DIR, name), content);
  return secretFile(join(SOURCE_DIR, name));
};
const FORMS = [
  ...forms(ASSERTION),
  ...forms(SECRET),
  ...forms(EMULATOR_SECRET),
  ...forms(JWT_SECRET),
  ...privateKeyForms(SIGNING_KEY),
  ...privateKeyForms(DPOP_KEY),
  ...privateKeyForms(TLS_KEY),
];

function leaks(text: string): string[] {
  return FORMS.filter((form) => text.includes(form));
}

/** A fault, as a loopback handler that echoes what it received (header and body) wherever it can. */
type Fault = (echo: string, request: { url: string }) => ((response: ServerResponse) => void) | 'destroy' | 'silent';

const faults: Record<string, Fault> = {
  'reset mid-body': (echo) => (response) => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': '100000' });
    response.write(`{"access_token":"${echo}`);
    setTimeout(() => response.socket?.destroy(), 5);
  },
  'reset at once': () => 'destroy',
  'no answer': () => 'silent',
  trickle: (echo) => (response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    const timer = setInterval(() => response.write(echo.slice(0, 1)), 30);
    response.on('close', () => clearInterval(timer));
  },
  ...Object.fromEntries(
    [400, 401, 403, 408, 500, 502, 503, 504].map((status) => [
      `HTTP ${status}`,
      ((echo: string) => (response: ServerResponse) =>
        response
          .writeHead(status, { 'content-type': 'application/json', 'www-authenticate': `Bearer error="invalid_token", error_description="${echo}"` })
          .end(JSON.stringify({ error: status === 401 ? 'invalid_client' : 'server_error', error_description: echo, received: echo }))) as Fault,
    ]),
  ),
  '429 with Retry-After': (echo) => (response) =>
    response
      .writeHead(429, { 'content-type': 'application/json', 'retry-after': '0', 'x-echo': encodeURIComponent(echo) })
      .end(JSON.stringify({ error: echo })),
  '429 without Retry-After': (echo) => (response) => response.writeHead(429, { 'content-type': 'text/plain' }).end(echo),
  'malformed JSON': (echo) => (response) => response.writeHead(200, { 'content-type': 'application/json' }).end(`{"access_token": "${echo}", `),
  '10 MB body': (echo) => (response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    const chunk = `${echo} `.repeat(Math.ceil(65_536 / (echo.length + 1)));
    let sent = 0;
    const pump = () => {
      while (sent < 10 * 1024 * 1024 && !response.destroyed) {
        sent += chunk.length;
        if (!response.write(chunk)) return void response.once('drain', pump);
      }
      if (!response.destroyed) response.end();
    };
    pump();
  },
  'wrong content type': (echo) => (response) => response.writeHead(200, { 'content-type': 'text/html' }).end(`<html>${echo}</html>`),
  'bad token_type': (echo) => (response) =>
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'x', token_type: echo, expires_in: echo })),
  redirect: (echo) => (response) => response.writeHead(302, { location: `http://127.0.0.1:1/steal?s=${encodeURIComponent(echo)}&raw=${echo}` }).end(echo),
};

describe('secrets never leak, whatever the fault (exhaustive)', () => {
  const outputs: string[] = [];
  const errors: unknown[] = [];
  const logLines: string[] = [];
  const logger: Logger = {
    debug: (...args) => logLines.push(everythingAbout(args)),
    info: (...args) => logLines.push(everythingAbout(args)),
    warn: (...args) => logLines.push(everythingAbout(args)),
    error: (...args) => logLines.push(everythingAbout(args)),
  };
  const managers: TokenManager[] = [];
  const providers: Provider[] = [];
  let server: LoopbackServer;
  let emulator: Emulator;
  let current: Fault = faults['HTTP 500']!;
  const restore: Array<() => void> = [];

  beforeAll(async () => {
    // Capture everything written anywhere during the test.
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write.bind(stream);
      stream.write = ((chunk: unknown, ...rest: unknown[]) => {
        outputs.push(String(chunk));
        return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof stream.write;
      restore.push(() => {
        stream.write = original;
      });
    }
    for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
      const spy = vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        outputs.push(everythingAbout(args));
      });
      restore.push(() => spy.mockRestore());
    }

    server = await startLoopbackServer((request, response, body) => {
      const echo = `${request.headers.authorization ?? ''} ${body} ${request.url ?? ''}`;
      const action = current(echo, { url: request.url ?? '' });
      if (action === 'destroy') request.socket.destroy();
      else if (action !== 'silent') action(response);
    });
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const closedPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const make = (base: string): Record<string, Provider> => ({
      ap: alternativePayments({ clientId: CLIENT_ID, clientSecret: SECRET, baseUrl: base }),
      autopay: autopay({ clientId: CLIENT_ID, clientSecret: SECRET, tokenUrl: `${base}/oauth/token`, apiBaseUrl: base }),
      rfcBasic: oauth2({ clientId: CLIENT_ID, clientSecret: SECRET, tokenUrl: `${base}/oauth/token` }),
      rfcPost: oauth2({ clientId: CLIENT_ID, clientSecret: SECRET, tokenUrl: `${base}/oauth/token`, authMethod: 'client_secret_post' }),
      rfcDiscovery: oauth2({ clientId: CLIENT_ID, clientSecret: SECRET, issuer: base }),
      rfcSecretJwt: oauth2({ clientId: CLIENT_ID, clientSecret: JWT_SECRET, authMethod: 'client_secret_jwt', tokenUrl: `${base}/oauth/token` }),
      rfcPrivateKeyJwt: oauth2({
        clientId: CLIENT_ID,
        // As a PEM string, the form most apps hold it in.
        privateKey: SIGNING_KEY.export({ format: 'pem', type: 'pkcs8' }).toString(),
        keyId: 'everywhere-key',
        tokenUrl: `${base}/oauth/token`,
      }),
      rfcDpop: oauth2({
        clientId: CLIENT_ID,
        clientSecret: SECRET,
        dpop: { privateKey: DPOP_KEY.export({ format: 'jwk' }) },
        tokenUrl: `${base}/oauth/token`,
        apiBaseUrl: base,
      }),
      rfcTls: oauth2({
        clientId: CLIENT_ID,
        authMethod: 'tls_client_auth',
        // The loopback server is http: the certificate is never asked for, but it is held like in production.
        tls: { cert: CERTIFICATES.clientCert, key: CERTIFICATES.clientKey, ca: CERTIFICATES.caCert },
        tokenUrl: `${base}/oauth/token`,
      }),
      // Issue 22: every secret and key from a function or a file, and a client assertion.
      apFunction: alternativePayments({ clientId: CLIENT_ID, clientSecret: () => SECRET, baseUrl: base }),
      autopayFile: autopay({
        clientId: CLIENT_ID,
        clientSecret: sourceFile('autopay-secret', `${SECRET}\n`),
        tokenUrl: `${base}/oauth/token`,
        apiBaseUrl: base,
      }),
      rfcFunction: oauth2({ clientId: CLIENT_ID, clientSecret: async () => SECRET, tokenUrl: `${base}/oauth/token` }),
      rfcKeyFile: oauth2({
        clientId: CLIENT_ID,
        privateKey: sourceFile('signing.pem', SIGNING_KEY.export({ format: 'pem', type: 'pkcs8' }).toString()),
        tokenUrl: `${base}/oauth/token`,
      }),
      rfcTlsFiles: oauth2({
        clientId: CLIENT_ID,
        authMethod: 'tls_client_auth',
        tls: { cert: sourceFile('client.crt', CERTIFICATES.clientCert), key: () => CERTIFICATES.clientKey, ca: CERTIFICATES.caCert },
        tokenUrl: `${base}/oauth/token`,
      }),
      rfcAssertion: oauth2({ clientId: CLIENT_ID, clientAssertion: () => ASSERTION, tokenUrl: `${base}/oauth/token` }),
      sourceThrows: alternativePayments({
        clientId: CLIENT_ID,
        clientSecret: () => {
          throw new Error(`the vault answered ${SECRET} ${ASSERTION}`);
        },
        baseUrl: base,
      }),
      custom: defineProvider({
        kind: 'my-bank',
        tokenUrl: `${base}/oauth/token`,
        clientId: CLIENT_ID,
        clientSecret: SECRET,
        // A careless custom provider: it puts the secret in the body and quotes the server in its errors.
        async requestToken({ signal }) {
          const response = await fetch(`${base}/oauth/token`, {
            method: 'POST',
            signal,
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: SECRET }),
          });
          const text = await response.text();
          if (!response.ok) throw new Error(`my-bank answered ${response.status}: ${text}`);
          return { body: JSON.parse(text) as unknown };
        },
      }),
    });
    const options = { logger, timeoutMs: 300, retry: { attempts: 2, baseDelayMs: 1 }, failureCooldownMs: 0, invalidCredentialsCooldownMs: 0 };
    const live = createTokenManager({ providers: make(server.url), ...options });
    const refused = createTokenManager({ providers: make(`http://127.0.0.1:${closedPort}`), ...options });
    managers.push(live, refused);
    providers.push(...Object.values(make(server.url)));

    for (const id of live.providerIds()) errors.push(await refused.getToken(id).catch((e: unknown) => e));
    for (const fault of Object.values(faults)) {
      current = fault;
      for (const id of live.providerIds()) errors.push(await live.getToken(id).catch((e: unknown) => e));
    }

    // The emulator with a distinctive secret: refusals, injected errors, forced 429s, and a success.
    emulator = await startEmulator({
      clients: [
        { provider: 'alternative-payments', clientId: CLIENT_ID, clientSecret: EMULATOR_SECRET },
        { provider: 'autopay', clientId: CLIENT_ID, clientSecret: EMULATOR_SECRET },
      ],
      ban: { maxTokens: 2, windowSeconds: 600 },
    });
    const emulated = (secret: string) =>
      createTokenManager({
        providers: {
          ap: alternativePayments({ clientId: CLIENT_ID, clientSecret: secret, baseUrl: emulator.alternativePaymentsBaseUrl }),
          autopay: autopay({ clientId: CLIENT_ID, clientSecret: secret, tokenUrl: emulator.autopayTokenUrl, apiBaseUrl: emulator.autopayApiBaseUrl }),
        },
        ...options,
        guard: { maxTokens: 10 },
      });
    const good = emulated(EMULATOR_SECRET);
    const wrong = emulated(`${EMULATOR_SECRET}-wrong`);
    managers.push(good, wrong);
    for (const id of ['ap', 'autopay']) errors.push(await wrong.getToken(id).catch((e: unknown) => e));
    for (const knobs of [{ errorRate: 1 }, { errorRate: 0, force429: { count: 10, retryAfterSeconds: 0 } }]) {
      emulator.configure(knobs);
      for (const id of ['ap', 'autopay']) errors.push(await good.getToken(id).catch((e: unknown) => e));
    }
    emulator.configure({ force429: { count: 0 } });
    // The guard's refusal with no valid token left: IssuanceLimitError.
    const tight = createTokenManager({
      providers: { ap: alternativePayments({ clientId: CLIENT_ID, clientSecret: EMULATOR_SECRET, baseUrl: emulator.alternativePaymentsBaseUrl }) },
      logger,
      guard: { maxTokens: 1 },
    });
    managers.push(tight);
    await tight.getToken('ap').catch(() => undefined);
    tight.invalidate('ap');
    errors.push(await tight.getToken('ap').catch((e: unknown) => e));
    // Past the ban, through the authorised client: 403s on the API.
    for (let i = 0; i < 4; i++) {
      for (const id of ['ap', 'autopay']) {
        await good.getToken(id, { forceRefresh: true }).catch((e: unknown) => errors.push(e));
      }
    }
    errors.push(
      await good
        .client('ap')
        .get('customers')
        .catch((e: unknown) => e),
    );
    errors.push(
      await good
        .fetch('autopay')(`${emulator.autopayApiBaseUrl}/customer_club/v2/join`, { method: 'POST', body: '{}' })
        .then((r) => r.text()),
    );
  }, 120_000);

  afterAll(async () => {
    for (const manager of managers) await manager.close();
    await server?.close();
    await emulator?.close();
    for (const undo of restore.reverse()) undo();
    rmSync(SOURCE_DIR, { recursive: true, force: true });
  });

  it('the scan sees each new secret and key when it is there (so it can fail)', () => {
    for (const text of [
      ASSERTION,
      JWT_SECRET,
      SIGNING_KEY.export({ format: 'pem', type: 'pkcs8' }).toString(),
      JSON.stringify(DPOP_KEY.export({ format: 'jwk' })),
      JSON.stringify(TLS_KEY.export({ format: 'jwk' })),
    ]) {
      expect(leaks(text).length).toBeGreaterThan(0);
    }
  });

  it('drove the error paths: every provider, every fault, the emulator', () => {
    const tokenErrors = errors.filter((e): e is TokenError => e instanceof TokenError);
    expect(tokenErrors.length).toBeGreaterThanOrEqual(6 * (Object.keys(faults).length + 1));
    expect(new Set(tokenErrors.map((e) => e.name))).toEqual(
      new Set(['InvalidCredentialsError', 'ProviderUnavailableError', 'RateLimitedError', 'InvalidTokenResponseError', 'IssuanceLimitError', 'ConfigError']),
    );
    expect(new Set(tokenErrors.map((e) => e.provider))).toEqual(
      new Set([
        'ap',
        'autopay',
        'rfcBasic',
        'rfcPost',
        'rfcDiscovery',
        'rfcSecretJwt',
        'rfcPrivateKeyJwt',
        'rfcDpop',
        'rfcTls',
        'apFunction',
        'autopayFile',
        'rfcFunction',
        'rfcKeyFile',
        'rfcTlsFiles',
        'rfcAssertion',
        'sourceThrows',
        'custom',
      ]),
    );
    expect(errors.every((e) => e instanceof TokenError || e instanceof Error || typeof e === 'string')).toBe(true);
  });

  it('no error — message, stack, cause chain, inspect at full depth, JSON — holds a secret in any form', () => {
    const leaked = errors.flatMap((error) =>
      leaks(everythingAbout(error)).map((form) => `${(error as Error).name ?? 'value'} ${(error as TokenError).provider ?? ''}: ${form}`),
    );
    expect(leaked).toEqual([]);
  });

  it('no logger call holds a secret', () => {
    expect(logLines.length).toBeGreaterThan(50);
    expect(logLines.flatMap(leaks)).toEqual([]);
  });

  it('stats, managers, providers show none', () => {
    for (const manager of managers) {
      expect(leaks(everythingAbout(manager.stats()))).toEqual([]);
      expect(leaks(everythingAbout(manager))).toEqual([]);
    }
    for (const provider of providers) expect(leaks(everythingAbout(provider))).toEqual([]);
  });

  it("the emulator's stats(), its HTTP /_emulator/stats and the emulator object show none", async () => {
    expect(leaks(everythingAbout(emulator.stats()))).toEqual([]);
    expect(leaks(everythingAbout(emulator))).toEqual([]);
    const response = await fetch(`${emulator.url}/_emulator/stats`);
    expect(response.status).toBe(200);
    expect(leaks(await response.text())).toEqual([]);
    expect(emulator.stats().bannedClients.length).toBeGreaterThan(0); // the ban path was driven too
  });

  it('nothing written to stdout, stderr or the console holds a secret', () => {
    expect(outputs.flatMap(leaks)).toEqual([]);
  });
});
