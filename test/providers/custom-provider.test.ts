// Pins the "A custom provider" example of docs/providers.md: the page must show exactly the code of
// fixtures/my-bank.ts (imports aside), and that code must work with nock and with the token manager.
import nock from 'nock';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { InvalidCredentialsError, InvalidTokenResponseError, ProviderUnavailableError } from '../../src/base/errors.js';
import { createTokenManager } from '../../src/index.js';
import { myBank } from './fixtures/my-bank.js';
import { context, recorder, rejectionOf, useNock, type SeenRequest } from './helpers.js';

const SECRET = 'tb-test-secret-Zq9!x';
const AUTH = 'https://auth.mybank.example';

/** Source text after the import statements, comments before them dropped. */
function body(source: string): string {
  const lines = source.split('\n');
  let last = -1;
  lines.forEach((line, index) => {
    if (/^import\b/.test(line) || /^\} from '/.test(line)) last = index;
  });
  return lines
    .slice(last + 1)
    .join('\n')
    .trim();
}

describe('docs/providers.md: A custom provider', () => {
  useNock();

  it('shows exactly the tested code', () => {
    const docs = readFileSync(new URL('../../docs/providers.md', import.meta.url), 'utf8');
    const section = docs.slice(docs.indexOf('## A custom provider'));
    const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block).toBeDefined();
    expect(block).toContain("from 'tokenbroker'");
    const fixture = readFileSync(new URL('./fixtures/my-bank.ts', import.meta.url), 'utf8');
    expect(body(block!)).toBe(body(fixture));
  });

  it('sends its request and returns the body', async () => {
    const seen: SeenRequest[] = [];
    nock(AUTH)
      .post('/v1/token')
      .reply(recorder(seen, 200, { access_token: 'bank-1', token_type: 'Bearer', expires_in: 900 }));
    const provider = myBank({ clientId: 'id', clientSecret: SECRET });

    await expect(provider.requestToken(context())).resolves.toEqual({
      body: { access_token: 'bank-1', token_type: 'Bearer', expires_in: 900 },
    });
    expect(JSON.parse(seen[0]!.body)).toEqual({ grant_type: 'client_credentials', client_id: 'id', client_secret: SECRET });
    expect(provider.kind).toBe('my-bank');
    expect(inspect(provider, { depth: Infinity, showHidden: true })).not.toContain(SECRET);
    expect(JSON.stringify(provider)).not.toContain(SECRET);
  });

  it('maps its failures to the error classes', async () => {
    nock(AUTH).post('/v1/token').reply(401, { error: 'invalid_client' });
    nock(AUTH).post('/v1/token').reply(502, 'bad gateway');
    nock(AUTH).post('/v1/token').reply(200, 'not json');
    const provider = myBank({ clientId: 'id', clientSecret: SECRET });
    expect(await rejectionOf(provider.requestToken(context()))).toBeInstanceOf(InvalidCredentialsError);
    expect(await rejectionOf(provider.requestToken(context()))).toBeInstanceOf(ProviderUnavailableError);
    expect(await rejectionOf(provider.requestToken(context()))).toBeInstanceOf(InvalidTokenResponseError);
    expect(await rejectionOf(provider.requestToken(context()))).toBeInstanceOf(ProviderUnavailableError); // no interceptor left
  });

  it('works with the token manager: one request for two calls', async () => {
    const scope = nock(AUTH).post('/v1/token').once().reply(200, { access_token: 'bank-2', token_type: 'bearer', expires_in: 900 });
    const tokens = createTokenManager({ providers: { bank: myBank({ clientId: 'id', clientSecret: SECRET }) } });
    try {
      const first = await tokens.getToken('bank');
      const second = await tokens.getToken('bank');
      expect(first).toMatchObject({ accessToken: 'bank-2', tokenType: 'Bearer' });
      expect(second.accessToken).toBe('bank-2');
      expect(scope.isDone()).toBe(true);
    } finally {
      await tokens.close();
    }
  });
});
