import { alternativePayments, autopay, createTokenManager, type RateLimit, type TokenManager, type TokenManagerOptions } from '../../src/index.js';
import { SAMPLE_CLIENTS, type Emulator } from '../../src/apps/emulator/index.js';

export const [AP_CLIENT, AUTOPAY_CLIENT] = SAMPLE_CLIENTS;

/** A manager with both providers pointed at `emulator`, on the sample clients unless overridden. */
export function managerFor(
  emulator: Emulator,
  options: Omit<TokenManagerOptions, 'providers'> & {
    apSecret?: string;
    autopaySecret?: string;
    autopayAudience?: string;
    apRateLimit?: RateLimit | false;
  } = {},
): TokenManager {
  // Off unless asked for: these tests make hundreds of API calls about tokens; pacing has test/pacing/.
  const { apSecret, autopaySecret, autopayAudience, apRateLimit = false, ...managerOptions } = options;
  return createTokenManager({
    ...managerOptions,
    providers: {
      ap: alternativePayments({
        clientId: AP_CLIENT.clientId,
        clientSecret: apSecret ?? AP_CLIENT.clientSecret,
        baseUrl: emulator.alternativePaymentsBaseUrl,
        rateLimit: apRateLimit,
      }),
      autopay: autopay({
        clientId: AUTOPAY_CLIENT.clientId,
        clientSecret: autopaySecret ?? AUTOPAY_CLIENT.clientSecret,
        tokenUrl: emulator.autopayTokenUrl,
        apiBaseUrl: emulator.autopayApiBaseUrl,
        ...(autopayAudience === undefined ? {} : { audience: autopayAudience }),
      }),
    },
  });
}

/** The emulator's counters for one provider. */
export function emulatorCounts(emulator: Emulator, provider: 'alternative-payments' | 'autopay') {
  return emulator.stats().providers[provider];
}

/** `GET customers` through tokenbroker's ky client; resolves to the status. */
export async function listCustomers(tokens: TokenManager, query = 'limit=5'): Promise<number> {
  const response = await tokens.client('ap').get(`customers?${query}`, { throwHttpErrors: false, retry: 0 });
  await response.body?.cancel();
  return response.status;
}

/** `POST customer_club/v2/join` through tokenbroker's fetch; resolves to the status. */
export async function joinClub(tokens: TokenManager, emulator: Emulator, phone = '+4712345678'): Promise<number> {
  const response = await tokens.fetch('autopay')(`${emulator.autopayApiBaseUrl}/customer_club/v2/join`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ phone_number: phone }),
  });
  await response.body?.cancel();
  return response.status;
}
