/**
 * Acceptance 7: with a distinctive secret, no message, stack, cause, log line, util.inspect (full depth)
 * or JSON.stringify of the manager, a provider, a store or an error contains it — nor its URL-encoded
 * or Base64 forms. Access tokens appear only in a Token's accessToken.
 */
import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alternativePayments, autopay, createTokenManager, memoryStore, oauth2, type Logger } from '../src/index.js';
import { everythingAbout } from './helpers/leak-scan.js';

const SECRET = 'tb-Secret+/=%:Zq9!x-7f3a';
const TOKEN = 'tb-AccessToken-9c1e44d2b7';
const FORMS = [SECRET, encodeURIComponent(SECRET), Buffer.from(SECRET).toString('base64'), Buffer.from(`client:${SECRET}`).toString('base64')];

function expectClean(text: string, also: string[] = []): void {
  for (const form of [...FORMS, ...also]) expect(text, `leaked ${form}`).not.toContain(form);
}

describe('secrets never leak', () => {
  const logLines: string[] = [];
  const logger: Logger = {
    debug: (o, m) => logLines.push(everythingAbout(o) + m),
    info: (o, m) => logLines.push(everythingAbout(o) + m),
    warn: (o, m) => logLines.push(everythingAbout(o) + m),
    error: (o, m) => logLines.push(everythingAbout(o) + m),
  };
  const errors: unknown[] = [];
  const AP = 'https://ap.example.test';
  const AUTOPAY = 'https://autopay.example.test';
  const RFC = 'https://idp.example.test';
  const providers = {
    ap: alternativePayments({ clientId: 'client', clientSecret: SECRET, baseUrl: AP }),
    autopay: autopay({ clientId: 'client', clientSecret: SECRET, tokenUrl: `${AUTOPAY}/oauth/token` }),
    rfc: oauth2({ clientId: 'client', clientSecret: SECRET, tokenUrl: `${RFC}/token` }),
    rfcPost: oauth2({ clientId: 'client', clientSecret: SECRET, tokenUrl: `${RFC}/token-post`, authMethod: 'client_secret_post' }),
  };
  const store = memoryStore();
  const tokens = createTokenManager({
    providers,
    store,
    logger,
    retry: { attempts: 2, baseDelayMs: 1 },
    failureCooldownMs: 0,
    invalidCredentialsCooldownMs: 0,
  });

  beforeAll(async () => {
    nock.disableNetConnect();
    // Servers that echo the secret and the token back in every kind of failure.
    const echo = JSON.stringify({ error: 'invalid_client', error_description: `bad secret ${SECRET}`, access_token: TOKEN, client_secret: SECRET });
    const cases: Array<[string, string, number, string]> = [
      [AP, '/oauth/token', 403, echo],
      [AP, '/oauth/token', 500, echo],
      [AP, '/oauth/token', 429, echo],
      [AP, '/oauth/token', 503, `upstream says ${SECRET}`],
      [AP, '/oauth/token', 200, `not json ${SECRET} ${TOKEN}`],
      [AP, '/oauth/token', 200, JSON.stringify({ access_token: TOKEN, token_type: 'mac', expires_in: 5 })],
      [AP, '/oauth/token', 400, `client_secret=${encodeURIComponent(SECRET)}&access_token=${TOKEN}`],
      [AUTOPAY, '/oauth/token', 401, echo],
      [AUTOPAY, '/oauth/token', 403, echo],
      [AUTOPAY, '/oauth/token', 302, ''],
      [RFC, '/token', 401, echo],
      [RFC, '/token', 400, echo],
      [RFC, '/token-post', 401, echo],
    ];
    for (const [origin, path, status, body] of cases) {
      const id = origin === AP ? 'ap' : origin === AUTOPAY ? 'autopay' : path === '/token' ? 'rfc' : 'rfcPost';
      // Retryable answers are sent twice: the manager makes two attempts here. So are rfc's invalid_client
      // answers: oauth2's 'auto' tries Basic, then the secret in the body.
      nock(origin)
        .post(path)
        .times(status >= 429 || (id === 'rfc' && (status === 400 || status === 401)) ? 2 : 1)
        .reply(status, body, { 'content-type': 'application/json', location: `https://evil.example.com/?s=${SECRET}` });
      errors.push(await tokens.getToken(id).catch((e: unknown) => e));
    }
    // A successful token, so the cache and stats hold something.
    nock(AP).post('/oauth/token').reply(200, { access_token: TOKEN, token_type: 'bearer', expires_in: 3600 });
    await tokens.getToken('ap');
  });
  afterAll(async () => {
    await tokens.close();
    nock.cleanAll();
    nock.enableNetConnect();
  });

  it('drove every error path', () => {
    expect(errors).toHaveLength(13);
    expect(errors.every((e) => e instanceof Error)).toBe(true);
    expect(new Set(errors.map((e) => (e as Error).name))).toEqual(
      new Set(['InvalidCredentialsError', 'ProviderUnavailableError', 'RateLimitedError', 'InvalidTokenResponseError']),
    );
    expect(errors.some((e) => (e as Error).message.includes('ERR_NOCK'))).toBe(false);
  });

  it('no error (message, stack, cause chain, inspect, JSON) contains the secret or the token', () => {
    for (const error of errors) expectClean(everythingAbout(error), [TOKEN]);
  });

  it('no log line contains the secret or the token', () => {
    expect(logLines.length).toBeGreaterThan(5);
    for (const line of logLines) expectClean(line, [TOKEN]);
  });

  it('the manager, providers, store and stats show neither', () => {
    expectClean(everythingAbout(tokens), [TOKEN]);
    for (const provider of Object.values(providers)) expectClean(everythingAbout(provider), [TOKEN]);
    expectClean(everythingAbout(store), [TOKEN]);
    expectClean(everythingAbout(tokens.stats()), [TOKEN]);
  });

  it('the token itself is still available where it belongs', async () => {
    expect((await tokens.getToken('ap')).accessToken).toBe(TOKEN);
  });
});
