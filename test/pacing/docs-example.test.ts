// The plain-fetch example of docs/rate-limits.md ("Your own HTTP client"), kept runnable here so it
// cannot rot; the test also checks that the doc still shows these lines.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alternativePayments, createTokenManager, type TokenManager } from '../../src/index.js';
import { SAMPLE_CLIENTS, startEmulator, type Emulator } from '../../src/apps/emulator/index.js';

describe('docs/rate-limits.md: acquire and reportRateLimited with plain fetch', () => {
  let emulator: Emulator;
  let tokens: TokenManager;
  let baseUrl: string;
  const [apClient] = SAMPLE_CLIENTS;

  beforeAll(async () => {
    emulator = await startEmulator(); // enforces 5 API calls per second per client by default
    baseUrl = emulator.alternativePaymentsBaseUrl;
    tokens = createTokenManager({
      providers: { ap: alternativePayments({ clientId: apClient!.clientId, clientSecret: apClient!.clientSecret, baseUrl }) },
    });
  });
  afterAll(async () => {
    await tokens?.close();
    await emulator?.close();
  });

  /** GET /customers with plain fetch, inside the credential's budget. */
  async function listCustomers(signal?: AbortSignal): Promise<unknown> {
    for (;;) {
      const authorization = await tokens.getAuthorizationHeader('ap', { signal }); // the token first …
      await tokens.acquire('ap', { signal }); // … then a slot; RateLimitedError past maxWaitMs, the reason on abort
      const response = await fetch(`${baseUrl}/customers`, { headers: { authorization }, signal });
      if (response.status !== 429) return response.json();
      await tokens.reportRateLimited('ap', response); // pauses every process; the next acquire waits it out
    }
  }

  it('the doc shows this code', () => {
    const doc = readFileSync(new URL('../../docs/rate-limits.md', import.meta.url), 'utf8');
    const source = readFileSync(new URL(import.meta.url), 'utf8');
    const from = source.indexOf('  /** GET /customers with plain fetch');
    const body = source.slice(from, source.indexOf('\n  }\n', from)).split('\n');
    expect(body.length).toBeGreaterThan(8);
    for (const line of body) expect(doc).toContain(line.trim());
  });

  it('12 concurrent calls against a limit of 5/s: all answered, no 429', async () => {
    emulator.reset();
    const results = await Promise.all(Array.from({ length: 12 }, () => listCustomers()));
    expect(results).toHaveLength(12);
    expect(emulator.stats().providers['alternative-payments'].apiCalls).toMatchObject({ ok: 12, rate_limited: 0 });
  });

  it('a 429 caused by another client of the same key is reported, waited out and the call answered', async () => {
    emulator.reset();
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // the budget's window from the last test has passed
    // Someone else uses the key outside tokenbroker and fills the API's window.
    const other = await tokens.getAuthorizationHeader('ap');
    for (let i = 0; i < 5; i++) await (await fetch(`${baseUrl}/customers`, { headers: { authorization: other } })).body?.cancel();
    const before = tokens.stats().byProvider.ap!.apiRateLimited;
    const result = await listCustomers();
    expect(result).toMatchObject({ data: expect.any(Array) });
    expect(emulator.stats().providers['alternative-payments'].apiCalls).toMatchObject({ ok: 6, rate_limited: 1 });
    expect(tokens.stats().byProvider.ap!.apiRateLimited - before).toBe(1);
  });
});
