/**
 * Testing your own integration with the emulator: a vitest file you can copy. The code under test is a
 * small function that lists customers through tokenbroker; the emulator plays Alternative Payments.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alternativePayments, createTokenManager, InvalidCredentialsError, type TokenManager } from 'tokenbroker';
import { SAMPLE_CLIENTS, startEmulator, type Emulator } from 'tokenbroker/emulator';

// Your code: it takes a manager, so tests can hand it one pointed at the emulator.
async function countCustomers(tokens: TokenManager): Promise<number> {
  let count = 0;
  let after: string | undefined;
  for (;;) {
    const page = await tokens
      .client('ap')
      .get('customers', { searchParams: { limit: 100, ...(after === undefined ? {} : { after }) } })
      .json<{ data: unknown[]; has_next_page: boolean; end_cursor: string }>();
    count += page.data.length;
    if (!page.has_next_page) return count;
    after = page.end_cursor;
  }
}

describe('countCustomers, against the emulator', () => {
  let emulator: Emulator;
  let tokens: TokenManager;
  const [sample] = SAMPLE_CLIENTS;

  beforeAll(async () => {
    emulator = await startEmulator();
    tokens = createTokenManager({
      providers: { ap: alternativePayments({ clientId: sample.clientId, clientSecret: sample.clientSecret, baseUrl: emulator.alternativePaymentsBaseUrl }) },
    });
  });
  afterAll(async () => {
    await tokens.close();
    await emulator.close();
  });

  it('pages through every customer with a single token', async () => {
    expect(await countCustomers(tokens)).toBe(250);
    expect(emulator.stats().providers['alternative-payments'].tokensIssued).toBe(1);
  });

  it('survives the provider revoking its tokens (one 401 rotation)', async () => {
    emulator.revokeTokens();
    expect(await countCustomers(tokens)).toBe(250);
    expect(emulator.stats().providers['alternative-payments'].tokensIssued).toBe(2);
  });

  it('reports wrong credentials as InvalidCredentialsError', async () => {
    const wrong = createTokenManager({
      providers: { ap: alternativePayments({ clientId: sample.clientId, clientSecret: 'not-the-secret', baseUrl: emulator.alternativePaymentsBaseUrl }) },
    });
    await expect(countCustomers(wrong)).rejects.toBeInstanceOf(InvalidCredentialsError);
    await wrong.close();
  });
});
