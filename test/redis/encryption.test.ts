/**
 * Encryption at rest (issue 4, acceptance 5): Redis never holds the access token in the clear, keys
 * rotate (first encrypts, all decrypt), and a value no key opens is a miss that costs one fresh token.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alternativePayments, createTokenManager, type TokenManager } from '../../src/index.js';
import { redisStore } from '../../src/stores/redis/index.js';
import { startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { skipWithoutRedis, startRedisServer, type RedisServer } from './redis-server.js';

const skip = skipWithoutRedis('test/redis/encryption.test.ts');
const CLIENT = { clientId: 'crypto-client', clientSecret: 'crypto-secret' };

let server: RedisServer;
let emulator: Emulator;

describe.skipIf(skip)('encryption at rest', () => {
  const managers: TokenManager[] = [];
  beforeAll(async () => {
    server = await startRedisServer();
    emulator = await startEmulator({ clients: [{ provider: 'alternative-payments', ...CLIENT }] });
  });
  afterAll(async () => {
    await Promise.all(managers.map((tokens) => tokens.close()));
    await emulator?.close();
    await server?.close();
  });

  it('stores no clear access token; rotation reads old values; a wrong key yields a fresh token', async () => {
    const requests = () => emulator.stats().providers['alternative-payments'].tokenRequests;
    const [k1, k2, k3] = [0, 1, 2].map(() => randomBytes(32).toString('base64')) as [string, string, string];
    const warnings: Array<{ object: unknown; message: string }> = [];
    const manager = (encryptionKeys: string[]) => {
      const tokens = createTokenManager({
        providers: { ap: alternativePayments({ baseUrl: emulator.alternativePaymentsBaseUrl, ...CLIENT }) },
        store: redisStore({
          url: server.url,
          keyPrefix: 'enc:',
          encryptionKeys,
          logger: { warn: (object: unknown, message: string) => warnings.push({ object, message }) },
        }),
      });
      managers.push(tokens);
      return tokens;
    };

    const first = await manager([k1]).getToken('ap');
    expect(requests()).toBe(1);
    const raw = server.client();
    const [key] = await raw.keys('enc:v2:{*}:token');
    const stored = (await raw.get(key!))!;
    expect(stored).not.toContain(first.accessToken);
    expect(stored).not.toContain(Buffer.from(first.accessToken).toString('base64'));
    expect(JSON.parse(stored)).toMatchObject({
      v: 1,
      enc: { kid: expect.any(String), iv: expect.any(String), tag: expect.any(String), ct: expect.any(String) },
    });

    // Rotation: a new key first, the old one still listed — the stored token is read, no request.
    const rotated = await manager([k2, k1]).getToken('ap');
    expect(rotated.accessToken).toBe(first.accessToken);
    expect(requests()).toBe(1);

    // A process with only a wrong key cannot read it: a miss, a warning, one fresh token.
    const wrong = await manager([k3]).getToken('ap');
    expect(wrong.accessToken).not.toBe(first.accessToken);
    expect(requests()).toBe(2);
    expect(warnings.map((warning) => warning.message)).toContain('unreadable token in the shared store; counted as a miss, a fresh token will replace it');
    const shown = JSON.stringify(warnings);
    for (const secret of [k1, k2, k3, first.accessToken, wrong.accessToken]) expect(shown).not.toContain(secret);
    // The fresh token replaced the unreadable value, encrypted with k3.
    expect(await raw.get(key!)).not.toContain(wrong.accessToken);
  });
});
