/**
 * Acceptance 2: every odd token response ends in a typed error or a documented value — never a crash,
 * never a cached bad token. Over the wire (nock) with the real Alternative Payments provider.
 */
import nock from 'nock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alternativePayments, createTokenManager, InvalidTokenResponseError, type TokenManager } from '../../src/index.js';

const BASE = 'https://ap.example.test';

describe('token response validation', () => {
  let tokens: TokenManager;
  beforeEach(() => {
    nock.disableNetConnect();
    tokens = createTokenManager({
      providers: { ap: alternativePayments({ clientId: 'id', clientSecret: 'secret', baseUrl: BASE }) },
      retry: { attempts: 1 },
      failureCooldownMs: 0,
    });
  });
  afterEach(async () => {
    await tokens.close();
    nock.cleanAll();
    nock.enableNetConnect();
  });

  const answer = (body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    nock(BASE)
      .post('/oauth/token')
      .reply(200, typeof body === 'string' ? body : JSON.stringify(body), headers);

  it.each(['bearer', 'Bearer', 'BEARER', 'bEaReR'])('accepts token_type %s and reports Bearer', async (type) => {
    answer({ access_token: 'abc', token_type: type, expires_in: 3600 });
    await expect(tokens.getToken('ap')).resolves.toMatchObject({ accessToken: 'abc', tokenType: 'Bearer' });
  });

  it('uses the documented 3600 s when expires_in is absent (Alternative Payments)', async () => {
    answer({ access_token: 'abc', token_type: 'bearer' });
    const token = await tokens.getToken('ap');
    expect(token.expiresAt - token.issuedAt).toBe(3_600_000);
  });

  it('accepts a numeric string expires_in', async () => {
    answer({ access_token: 'abc', token_type: 'bearer', expires_in: '1800' });
    const token = await tokens.getToken('ap');
    expect(token.expiresAt - token.issuedAt).toBe(1_800_000);
  });

  it('clamps an enormous expires_in to the 24-hour maximum', async () => {
    answer({ access_token: 'abc', token_type: 'bearer', expires_in: 1e15 });
    const token = await tokens.getToken('ap');
    expect(token.expiresAt - token.issuedAt).toBe(86_400_000);
  });

  const bad: Array<[string, unknown]> = [
    ['expires_in 0', { access_token: 'abc', token_type: 'bearer', expires_in: 0 }],
    ['negative expires_in', { access_token: 'abc', token_type: 'bearer', expires_in: -5 }],
    ['expires_in not a number', { access_token: 'abc', token_type: 'bearer', expires_in: 'soon' }],
    ['expires_in NaN-like object', { access_token: 'abc', token_type: 'bearer', expires_in: { s: 1 } }],
    ['no access_token', { token_type: 'bearer', expires_in: 3600 }],
    ['empty access_token', { access_token: '', token_type: 'bearer', expires_in: 3600 }],
    ['access_token with a newline', { access_token: 'abc\r\nX-Evil: 1', token_type: 'bearer', expires_in: 3600 }],
    ['access_token not a string', { access_token: 42, token_type: 'bearer', expires_in: 3600 }],
    ['token_type mac', { access_token: 'abc', token_type: 'mac', expires_in: 3600 }],
    ['token_type missing', { access_token: 'abc', expires_in: 3600 }],
    ['a JSON array', [1, 2]],
    ['JSON null', 'null'],
    ['not JSON', '<html>oops</html>'],
    ['empty body', ''],
  ];

  it.each(bad)('%s → InvalidTokenResponseError, nothing cached', async (_name, body) => {
    answer(body);
    const error = await tokens.getToken('ap').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidTokenResponseError);
    expect((error as InvalidTokenResponseError).provider).toBe('ap');
    expect((error as InvalidTokenResponseError).code).toBe('invalid_token_response');
    // Nothing was cached: the next call asks again and gets the good token.
    answer({ access_token: 'good', token_type: 'bearer', expires_in: 3600 });
    await expect(tokens.getToken('ap')).resolves.toMatchObject({ accessToken: 'good' });
  });

  it('a 10 MB body is refused after a bounded read', async () => {
    nock(BASE)
      .post('/oauth/token')
      .reply(200, 'x'.repeat(10 * 1024 * 1024));
    await expect(tokens.getToken('ap')).rejects.toBeInstanceOf(InvalidTokenResponseError);
  });
});
