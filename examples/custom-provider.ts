/**
 * A custom provider is one small function around defineProvider: it performs one token round-trip and
 * returns the parsed JSON body. tokenbroker adds caching, single-flight, retries, the issuance guard
 * and validation of the response.
 *
 * Runs offline: a tiny token server on loopback plays "my-bank".
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTokenManager, defineProvider, ProviderUnavailableError, InvalidCredentialsError } from 'tokenbroker';

// A stand-in for your token server: POST /token with a JSON body → { token, ttl } (not RFC-shaped).
let issued = 0;
const server = createServer((request, response) => {
  issued += 1;
  response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `my-bank-${issued}`, ttl: 900 }));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;

function myBank(options: { clientId: string; clientSecret: string }) {
  return defineProvider({
    kind: 'my-bank',
    tokenUrl,
    clientId: options.clientId,
    clientSecret: options.clientSecret, // only its hash goes into the cache key
    // `clientSecret` is the current value (a function or secretFile() source is read before each request).
    async requestToken({ signal, clientSecret }) {
      const response = await fetch(tokenUrl, {
        method: 'POST',
        signal,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: options.clientId, secret: clientSecret }),
      });
      // Map the answers to tokenbroker's errors so the manager knows what to retry.
      if (response.status === 401) throw new InvalidCredentialsError('my-bank refused the credentials', { status: 401 });
      if (!response.ok) throw new ProviderUnavailableError(`my-bank answered ${response.status}`, { status: response.status });
      const { token, ttl } = (await response.json()) as { token: string; ttl: number };
      // Hand back an RFC 6749-shaped body; the manager validates it before caching.
      return { body: { access_token: token, token_type: 'Bearer', expires_in: ttl } };
    },
  });
}

const tokens = createTokenManager({ providers: { bank: myBank({ clientId: 'shop-1', clientSecret: 'from-your-vault' }) } });
try {
  const tokensSeen = await Promise.all(Array.from({ length: 50 }, () => tokens.getToken('bank')));
  console.log(`50 concurrent calls → ${new Set(tokensSeen.map((t) => t.accessToken)).size} token, ${issued} request to my-bank`);
  console.log(`header: ${(await tokens.getAuthorizationHeader('bank')).replace(/my-bank-\d+/, 'my-bank-…')}`);
} finally {
  await tokens.close();
  server.close();
}
