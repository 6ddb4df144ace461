/**
 * Both providers end to end over real HTTP: tokenbroker gets tokens from the emulator's token
 * endpoints and calls its protected APIs with them.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import type { TokenManager } from '../../src/index.js';
import { emulatorCounts, joinClub, listCustomers, managerFor } from './helpers.js';

let emulator: Emulator;
let tokens: TokenManager;

beforeAll(async () => {
  emulator = await startEmulator({ alternativePaymentsApiRateLimitPerSecond: 0 }); // more API calls than 5/s
});
afterAll(() => emulator.close());
beforeEach(() => {
  emulator.reset();
  tokens = managerFor(emulator);
  return () => tokens.close();
});

describe('Alternative Payments end to end', () => {
  it('gets a bearer token and pages through every customer with it', async () => {
    const token = await tokens.getToken('ap');
    expect(token.tokenType).toBe('Bearer');
    expect(token.accessToken).toMatch(/^[0-9a-f]{56}$/);
    expect(token.expiresAt - token.issuedAt).toBe(3_600_000);

    const ap = tokens.client('ap');
    const ids: string[] = [];
    let after: string | undefined;
    do {
      const page = await ap
        .get('customers', { searchParams: after === undefined ? { limit: 100 } : { limit: 100, after } })
        .json<{ data: Array<{ id: string }>; end_cursor: string | null; has_next_page: boolean }>();
      ids.push(...page.data.map((customer) => customer.id));
      after = page.has_next_page ? (page.end_cursor ?? undefined) : undefined;
    } while (after !== undefined);
    expect(ids).toHaveLength(250);
    expect(new Set(ids).size).toBe(250);

    const counts = emulatorCounts(emulator, 'alternative-payments');
    expect(counts.tokensIssued).toBe(1);
    expect(counts.apiCalls.ok).toBe(3);
  });

  it('1,000 concurrent calls from a cold start share one token request', async () => {
    const statuses = await Promise.all(Array.from({ length: 1_000 }, () => listCustomers(tokens, 'limit=1')));
    expect(statuses.every((status) => status === 200)).toBe(true);
    expect(emulatorCounts(emulator, 'alternative-payments').tokenRequests).toBe(1);
    const stats = tokens.stats().byProvider.ap!;
    expect(stats.tokensIssued).toMatchObject({ total: 1, coldStart: 1 });
    expect(stats.requestsSent).toBe(1);
  });
});

describe('Autopay end to end', () => {
  it('gets a JWT-shaped token with its scope and joins the customer club with it', async () => {
    const token = await tokens.getToken('autopay');
    expect(token.accessToken.split('.')).toHaveLength(3);
    expect(token.scope).toBe('customer_club');
    expect(token.expiresAt - token.issuedAt).toBe(86_400_000);

    const member = await tokens
      .client('autopay')
      .post('customer_club/v2/join', { json: { phone_number: '+4798765432', first_name: 'Kari' } })
      .json<{ member_id: string; status: string }>();
    expect(member).toMatchObject({ status: 'joined', member_id: expect.stringMatching(/^mem_/) });
    expect(await joinClub(tokens, emulator)).toBe(200);
    expect(emulatorCounts(emulator, 'autopay')).toMatchObject({ tokensIssued: 1, apiCalls: { ok: 2 } });
  });

  it('both providers in one manager keep separate tokens', async () => {
    const [ap, autopay] = await Promise.all([tokens.getToken('ap'), tokens.getToken('autopay')]);
    expect(ap.accessToken).not.toBe(autopay.accessToken);
    // A token of one provider is refused by the other's API.
    const crossed = await fetch(`${emulator.alternativePaymentsBaseUrl}/customers`, { headers: { authorization: `Bearer ${autopay.accessToken}` } });
    expect(crossed.status).toBe(401);
    expect(await listCustomers(tokens)).toBe(200);
    expect(await joinClub(tokens, emulator)).toBe(200);
  });
});
