/**
 * One provider: Alternative Payments. Gets a token, calls the API with the authorised client, and
 * shows that repeated calls reuse the token.
 *
 * Real credentials: AP_CLIENT_ID=… AP_CLIENT_SECRET=… AP_ENVIRONMENT=demo npx tsx examples/alternative-payments.ts
 * Without them it starts the built-in emulator and uses its sample client, so it runs offline.
 */
import { alternativePayments, createTokenManager } from 'tokenbroker';
import { SAMPLE_CLIENTS, startEmulator } from 'tokenbroker/emulator';

const emulator = process.env.AP_CLIENT_ID === undefined ? await startEmulator() : undefined;
const [sample] = SAMPLE_CLIENTS;

const tokens = createTokenManager({
  providers: {
    ap: alternativePayments(
      emulator === undefined
        ? {
            clientId: process.env.AP_CLIENT_ID!,
            clientSecret: process.env.AP_CLIENT_SECRET!,
            environment: process.env.AP_ENVIRONMENT === 'production' ? 'production' : 'demo',
          }
        : { clientId: sample.clientId, clientSecret: sample.clientSecret, baseUrl: emulator.alternativePaymentsBaseUrl },
    ),
  },
});

try {
  const token = await tokens.getToken('ap');
  console.log(`token: ${token.tokenType}, expires ${new Date(token.expiresAt).toISOString()}`);

  const page = await tokens
    .client('ap')
    .get('customers', { searchParams: { limit: 5 } })
    .json<{ data: unknown[]; has_next_page: boolean }>();
  console.log(`customers on the first page: ${page.data.length}, more: ${page.has_next_page}`);

  await Promise.all(Array.from({ length: 100 }, () => tokens.getToken('ap')));
  const stats = tokens.stats();
  console.log(`101 getToken calls, ${stats.tokensIssued.total} token issued, ${stats.requestsSent} token request sent`);
} finally {
  await tokens.close();
  await emulator?.close();
}
