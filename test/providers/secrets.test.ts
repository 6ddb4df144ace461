import nock from 'nock';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { InvalidCredentialsError, InvalidTokenResponseError, TokenError } from '../../src/base/errors.js';
import type { Provider } from '../../src/providers/provider.js';
import { alternativePayments } from '../../src/providers/alternative-payments.js';
import { autopay } from '../../src/providers/autopay.js';
import { oauth2 } from '../../src/providers/oauth2/index.js';
import { formUrlEncode } from '../../src/providers/shared.js';
import { context, errorViews, expectNoneOf, rejectionOf, secretForms, useNock } from './helpers.js';

const SECRET = 'tb-test-secret-Zq9!x';
const CLIENT_ID = 'client-7';

/** Every spelling of the secret a server could echo back. */
const ECHOES = [
  ...secretForms(SECRET, CLIENT_ID),
  formUrlEncode(SECRET),
  Buffer.from(`${formUrlEncode(CLIENT_ID)}:${formUrlEncode(SECRET)}`).toString('base64'),
];

function echoBody(): Record<string, string> {
  return {
    error: 'invalid_client',
    code: 'invalid_credentials',
    message: `bad secret ${SECRET} (${encodeURIComponent(SECRET)}) (${formUrlEncode(SECRET)})`,
    error_description: `got ${SECRET} / ${Buffer.from(SECRET).toString('base64')} / ${Buffer.from(`${CLIENT_ID}:${SECRET}`).toString('base64')}`,
    client_secret: SECRET,
    received: `client_secret=${encodeURIComponent(SECRET)}&x=${Buffer.from(`${formUrlEncode(CLIENT_ID)}:${formUrlEncode(SECRET)}`).toString('base64')}`,
  };
}

interface Case {
  readonly name: string;
  readonly origin: string;
  readonly path: string;
  readonly build: () => Provider;
}

const cases: Case[] = [
  {
    name: 'alternativePayments',
    origin: 'https://public-api.alternativepayments.io',
    path: '/oauth/token',
    build: () => alternativePayments({ clientId: CLIENT_ID, clientSecret: SECRET }),
  },
  {
    name: 'autopay',
    origin: 'https://api-auth.autopay.io',
    path: '/oauth/token',
    build: () => autopay({ clientId: CLIENT_ID, clientSecret: SECRET }),
  },
  {
    name: 'oauth2 (basic)',
    origin: 'https://auth.example.com',
    path: '/token',
    build: () => oauth2({ tokenUrl: 'https://auth.example.com/token', clientId: CLIENT_ID, clientSecret: SECRET }),
  },
  {
    name: 'oauth2 (post)',
    origin: 'https://auth.example.com',
    path: '/token',
    build: () => oauth2({ tokenUrl: 'https://auth.example.com/token', clientId: CLIENT_ID, clientSecret: SECRET, authMethod: 'client_secret_post' }),
  },
  {
    name: 'oauth2 (issuer)',
    origin: 'https://issuer.example.com',
    path: '/token',
    build: () => {
      nock('https://issuer.example.com')
        .get('/.well-known/openid-configuration')
        .reply(200, { issuer: 'https://issuer.example.com', token_endpoint: 'https://issuer.example.com/token' });
      return oauth2({ issuer: 'https://issuer.example.com', clientId: CLIENT_ID, clientSecret: SECRET });
    },
  },
];

describe.each(cases)('secrets: $name', ({ name, origin, path, build }) => {
  useNock();

  it('never shows the secret through util.inspect or JSON.stringify', () => {
    const provider = build();
    const views = [
      inspect(provider, { depth: Infinity, showHidden: true }),
      inspect(provider, { depth: Infinity, showHidden: true, customInspect: false, getters: true }),
      JSON.stringify(provider),
      provider.cacheKey,
      Object.getOwnPropertyNames(provider).join(','),
    ];
    expectNoneOf(views, ECHOES);
    expect(Object.isFrozen(provider)).toBe(true);
    expect(JSON.parse(JSON.stringify(provider))).toEqual({ kind: provider.kind, cacheKey: provider.cacheKey, apiBaseUrl: provider.apiBaseUrl });
  });

  it.each([400, 401, 403, 429, 500])('keeps the secret out of errors when a %i body echoes it', async (status) => {
    nock(origin)
      .post(path)
      .reply(status, echoBody(), { 'www-authenticate': status === 401 ? `Basic realm="${SECRET}"` : '' });
    const error = await rejectionOf(build().requestToken(context()));
    expect(error).toBeInstanceOf(TokenError);
    expectNoneOf(errorViews(error), ECHOES);
  });

  // The other providers hand the body to the manager unvalidated; openid-client validates it itself.
  it.runIf(name.startsWith('oauth2'))('keeps the secret out of errors for a malformed 200 echoing it', async () => {
    nock(origin).post(path).reply(200, { access_token: 42, token_type: SECRET, note: SECRET });
    const error = await rejectionOf(build().requestToken(context()));
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expectNoneOf(errorViews(error), ECHOES);
  });

  it('keeps the secret out of a transport error', async () => {
    nock(origin).post(path).replyWithError(`connection reset while sending ${SECRET}`);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`gave up on ${SECRET}`)), 2_000);
    const error = await rejectionOf(build().requestToken({ signal: controller.signal, timeoutMs: 2_000 }));
    clearTimeout(timer);
    expect(error).toBeInstanceOf(TokenError);
    expectNoneOf(errorViews(error), ECHOES);
  });
});

describe('secrets: credential refusals still say what happened', () => {
  useNock();

  it('quotes the scrubbed body', async () => {
    nock('https://public-api.alternativepayments.io')
      .post('/oauth/token')
      .reply(403, { message: `no such client, secret was ${SECRET}` });
    const error = await rejectionOf(alternativePayments({ clientId: CLIENT_ID, clientSecret: SECRET }).requestToken(context()));
    expect(error).toBeInstanceOf(InvalidCredentialsError);
    expect((error as Error).message).toContain('no such client, secret was [redacted]');
  });
});
