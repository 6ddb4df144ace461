/**
 * Both providers behind one manager, with the ky client: Alternative Payments lists customers,
 * Autopay enrols a customer club member. Each client has the provider's API base as prefix and
 * attaches a valid token; a 401 rotates the token once.
 *
 * Runs offline against the built-in emulator.
 */
import { alternativePayments, autopay, createTokenManager } from 'tokenbroker';
import { SAMPLE_CLIENTS, startEmulator } from 'tokenbroker/emulator';

const emulator = await startEmulator();
const [apClient, autopayClient] = SAMPLE_CLIENTS;

const tokens = createTokenManager({
  providers: {
    ap: alternativePayments({ clientId: apClient.clientId, clientSecret: apClient.clientSecret, baseUrl: emulator.alternativePaymentsBaseUrl }),
    autopay: autopay({
      clientId: autopayClient.clientId,
      clientSecret: autopayClient.clientSecret,
      tokenUrl: emulator.autopayTokenUrl,
      apiBaseUrl: emulator.autopayApiBaseUrl,
    }),
  },
});

try {
  const ap = tokens.client('ap');
  const club = tokens.client('autopay');

  const [customers, member] = await Promise.all([
    ap.get('customers', { searchParams: { limit: 3 } }).json<{ data: Array<{ name: string }> }>(),
    club.post('customer_club/v2/join', { json: { email: 'ada@example.com' } }).json<Record<string, unknown>>(),
  ]);
  console.log(`Alternative Payments customers: ${customers.data.map((c) => c.name).join(', ')}`);
  console.log(`Autopay member: ${JSON.stringify(member)}`);

  // The provider revokes every token; the next call gets a 401, and the client rotates the token once.
  emulator.revokeTokens();
  await ap.get('customers', { searchParams: { limit: 1 } }).json();
  console.log(`after a revocation: tokens issued ${JSON.stringify(tokens.stats().tokensIssued)}`);
} finally {
  await tokens.close();
  await emulator.close();
}
