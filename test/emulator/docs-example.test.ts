// The example of docs/emulator.md, "Using it in your own tests", kept runnable here so it cannot rot.
// Only the imports differ: the docs import 'tokenbroker' and 'tokenbroker/emulator'.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alternativePayments, autopay, createTokenManager } from '../../src/index.js';
import { SAMPLE_CLIENTS, startEmulator, type Emulator } from '../../src/apps/emulator/index.js';

describe('my payment integration', () => {
  let emulator: Emulator;
  const [apClient, autopayClient] = SAMPLE_CLIENTS;

  beforeAll(async () => {
    emulator = await startEmulator(); // a free port on 127.0.0.1, the sample clients registered
  });
  afterAll(() => emulator.close());

  it('lists customers with one token, and recovers from a revoked one', async () => {
    const tokens = createTokenManager({
      providers: {
        ap: alternativePayments({
          clientId: apClient.clientId,
          clientSecret: apClient.clientSecret,
          baseUrl: emulator.alternativePaymentsBaseUrl,
        }),
      },
    });
    try {
      const apFetch = tokens.fetch('ap');
      for (let call = 0; call < 3; call += 1) {
        const response = await apFetch(`${emulator.alternativePaymentsBaseUrl}/customers?limit=10`);
        expect(response.status).toBe(200);
        expect(((await response.json()) as { data: unknown[] }).data).toHaveLength(10);
      }
      expect(emulator.stats().providers['alternative-payments'].tokensIssued).toBe(1);

      emulator.revokeTokens(); // the server forgets every token: the next call gets a 401 …
      const response = await apFetch(`${emulator.alternativePaymentsBaseUrl}/customers`);
      expect(response.status).toBe(200); // … and tokenbroker fetches a new token and retries once
      expect(emulator.stats().providers['alternative-payments'].tokensIssued).toBe(2);
    } finally {
      await tokens.close();
    }
  });

  it('joins the Autopay customer club', async () => {
    const tokens = createTokenManager({
      providers: {
        autopay: autopay({
          clientId: autopayClient.clientId,
          clientSecret: autopayClient.clientSecret,
          tokenUrl: emulator.autopayTokenUrl,
          apiBaseUrl: emulator.autopayApiBaseUrl,
        }),
      },
    });
    try {
      const response = await tokens.fetch('autopay')(`${emulator.autopayApiBaseUrl}/customer_club/v2/join`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ phone_number: '+4712345678' }),
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ status: 'joined' });
    } finally {
      await tokens.close();
    }
  });
});

// Everything above this line must equal the code block of the docs, imports aside.
describe('docs/emulator.md', () => {
  it('shows exactly the example tested above', async () => {
    const { readFile } = await import('node:fs/promises');
    const docs = await readFile(new URL('../../docs/emulator.md', import.meta.url), 'utf8');
    const section = docs.slice(docs.indexOf('## Using it in your own tests'));
    const documented = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    const source = await readFile(new URL(import.meta.url), 'utf8');
    const tested = source
      .slice(0, source.indexOf('// Everything above this line'))
      .split('\n')
      .filter((line) => !line.startsWith('//'))
      .join('\n')
      .replace("'../../src/index.js'", "'tokenbroker'")
      .replace("'../../src/apps/emulator/index.js'", "'tokenbroker/emulator'");
    expect(documented?.trimEnd()).toBe(tested.trimEnd());
  });
});
