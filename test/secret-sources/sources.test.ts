/**
 * Issue 22, secret sources: a value, a function or `secretFile(path)` wherever a client secret is
 * taken; a file replaced the three ways it is in practice (a Kubernetes `..data` symlink swap, an
 * editor's rename, a brief empty file); a source that fails is a ConfigError naming the field and
 * quoting nothing; and a refusal after the source changed is answered with the new secret at once.
 */
import { mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync, mkdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { alternativePayments, autopay, ConfigError, createTokenManager, InvalidCredentialsError, secretFile, type Provider } from '../../src/index.js';
import { SAMPLE_CLIENTS, startEmulator, type Emulator } from '../../src/apps/emulator/index.js';
import { everythingAbout } from '../helpers/leak-scan.js';

const [AP_CLIENT, AUTOPAY_CLIENT] = SAMPLE_CLIENTS;
const NEW_SECRET = 'Rotated+Secret/=%-22-b7e1';

let emulator: Emulator;
let dir: string;

beforeAll(async () => {
  emulator = await startEmulator({
    clients: [
      { provider: 'alternative-payments', clientId: AP_CLIENT.clientId, clientSecret: AP_CLIENT.clientSecret },
      { provider: 'autopay', clientId: AUTOPAY_CLIENT.clientId, clientSecret: AUTOPAY_CLIENT.clientSecret },
    ],
  });
});
afterAll(async () => {
  await emulator.close();
});
beforeEach(() => {
  // Clears the 5 token requests per second window: these tests ask quickly, one after the other.
  emulator.reset();
});

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-secret-sources-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function ap(clientSecret: Parameters<typeof alternativePayments>[0]['clientSecret']): Provider {
  return alternativePayments({ clientId: AP_CLIENT.clientId, clientSecret, baseUrl: emulator.alternativePaymentsBaseUrl });
}

const noProblems = (problem: string) => {
  throw new Error(`unexpected problem: ${problem}`);
};

describe('a secret function', () => {
  afterEach(() => {
    // Every test that rotates puts the sample secret back.
    emulator.rotateSecret({ clientId: AP_CLIENT.clientId, clientSecret: AP_CLIENT.clientSecret });
  });

  it('is called before the first token request, and the cache key follows its value', async () => {
    let calls = 0;
    const provider = ap(() => {
      calls++;
      return AP_CLIENT.clientSecret;
    });
    const unread = provider.cacheKey;
    expect(calls).toBe(0);
    const tokens = createTokenManager({ providers: { ap: provider } });
    await tokens.getToken('ap');
    expect(calls).toBe(1);
    // The same key a value gives: processes with the value and with the function share tokens.
    expect(provider.cacheKey).toBe(ap(AP_CLIENT.clientSecret).cacheKey);
    expect(unread).not.toBe(provider.cacheKey);
    await tokens.close();
  });

  it('may be async', async () => {
    const tokens = createTokenManager({ providers: { ap: ap(async () => AP_CLIENT.clientSecret) } });
    await expect(tokens.getToken('ap')).resolves.toMatchObject({ tokenType: 'Bearer' });
    await tokens.close();
  });

  it('after a refusal, a changed secret is asked with at once: the caller sees no error, one refused request', async () => {
    // Read 1: the first token. Read 2, before the next request: still the old secret (the rotation has
    // not reached the source yet). Read 3, after the refusal: the new one.
    let reads = 0;
    const provider = ap(() => (++reads >= 3 ? NEW_SECRET : AP_CLIENT.clientSecret));
    const tokens = createTokenManager({ providers: { ap: provider } });
    const first = await tokens.getToken('ap');
    const oldKey = provider.cacheKey;
    const before = emulator.stats().providers['alternative-payments'].clients[AP_CLIENT.clientId]!;
    emulator.rotateSecret({ clientId: AP_CLIENT.clientId, clientSecret: NEW_SECRET });
    const second = await tokens.getToken('ap', { forceRefresh: true });
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(reads).toBe(3);
    const after = emulator.stats().providers['alternative-payments'].clients[AP_CLIENT.clientId]!;
    expect(after.tokenRequestsRejected.invalid_credentials - before.tokenRequestsRejected.invalid_credentials).toBe(1);
    expect(after.tokensIssued - before.tokensIssued).toBe(1);
    expect(provider.cacheKey).not.toBe(oldKey);
    expect(provider.cacheKey).toBe(ap(NEW_SECRET).cacheKey);
    // The new token is the credential's now: warm hits return it.
    expect((await tokens.getToken('ap')).accessToken).toBe(second.accessToken);
    await tokens.close();
  });

  it('after a refusal, an unchanged secret leaves the refusal and its cool-down standing', async () => {
    const tokens = createTokenManager({ providers: { ap: ap(() => 'not-the-secret') } });
    await expect(tokens.getToken('ap')).rejects.toBeInstanceOf(InvalidCredentialsError);
    const sent = tokens.stats().requestsSent;
    await expect(tokens.getToken('ap')).rejects.toBeInstanceOf(InvalidCredentialsError);
    expect(tokens.stats().requestsSent).toBe(sent);
    await tokens.close();
  });

  it.each([
    [
      'throws',
      () => {
        throw new Error(`vault said ${NEW_SECRET}`);
      },
      'the secret source threw (Error)',
    ],
    ['rejects', () => Promise.reject(new TypeError(NEW_SECRET)), 'the secret source threw (TypeError)'],
    ['returns an empty string', () => '', 'the secret source returned an empty string'],
    ['returns a number', () => 42 as unknown as string, 'the secret source returned number, not a string'],
    ['returns undefined', () => undefined as unknown as string, 'the secret source returned undefined, not a string'],
  ])('that %s is a ConfigError naming the field, quoting nothing', async (_name, source, message) => {
    const tokens = createTokenManager({ providers: { ap: ap(source) } });
    const error = await tokens.getToken('ap').catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([{ path: 'alternativePayments.clientSecret', message }]);
    expect((error as ConfigError).provider).toBe('ap');
    expect(everythingAbout(error)).not.toContain(NEW_SECRET);
    expect(tokens.stats().requestsSent).toBe(0);
    await tokens.close();
  });

  it('an autopay secret may be a function too', async () => {
    const tokens = createTokenManager({
      providers: {
        autopay: autopay({
          clientId: AUTOPAY_CLIENT.clientId,
          clientSecret: () => AUTOPAY_CLIENT.clientSecret,
          tokenUrl: emulator.autopayTokenUrl,
          apiBaseUrl: emulator.autopayApiBaseUrl,
        }),
      },
    });
    await expect(tokens.getToken('autopay')).resolves.toMatchObject({ tokenType: 'Bearer' });
    await tokens.close();
  });
});

describe('the options', () => {
  it('refuse anything but a non-empty string, a function or secretFile(path), naming the field', () => {
    for (const bad of [42, {}, { path: '/etc/passwd' }, '']) {
      expect(() => ap(bad as string)).toThrow(ConfigError);
      try {
        ap(bad as string);
      } catch (error) {
        expect((error as ConfigError).issues.map((issue) => issue.path)).toEqual(['alternativePayments.clientSecret']);
      }
    }
  });

  it('show neither the function nor the file content', () => {
    const path = join(dir, 'shown');
    writeFileSync(path, `${NEW_SECRET}\n`);
    for (const provider of [ap(() => NEW_SECRET), ap(secretFile(path))]) expect(everythingAbout(provider)).not.toContain(NEW_SECRET);
    expect(everythingAbout(secretFile(path))).toContain(path);
  });
});

describe('secretFile(path)', () => {
  it('is read at construction: a missing file is a ConfigError naming the field', () => {
    const error = (() => {
      try {
        ap(secretFile(join(dir, 'missing')));
      } catch (thrown) {
        return thrown;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues[0]!.path).toBe('alternativePayments.clientSecret');
    expect((error as ConfigError).issues[0]!.message).toMatch(/cannot read .*missing \(ENOENT\)/);
  });

  it('drops one trailing newline: the same key as the value', () => {
    const path = join(dir, 'newline');
    writeFileSync(path, `${AP_CLIENT.clientSecret}\n`);
    expect(ap(secretFile(path)).cacheKey).toBe(ap(AP_CLIENT.clientSecret).cacheKey);
  });

  it('sees a Kubernetes secret volume update: the ..data symlink swapped to a new directory', async () => {
    // The kubelet's layout: <volume>/client-secret -> ..data/client-secret, ..data -> ..2026_…/
    const volume = join(dir, 'volume');
    mkdirSync(join(volume, '..v1'), { recursive: true });
    writeFileSync(join(volume, '..v1', 'client-secret'), 'first-secret');
    symlinkSync('..v1', join(volume, '..data'));
    symlinkSync(join('..data', 'client-secret'), join(volume, 'client-secret'));
    const provider = ap(secretFile(join(volume, 'client-secret')));
    expect(provider.cacheKey).toBe(ap('first-secret').cacheKey);

    mkdirSync(join(volume, '..v2'));
    writeFileSync(join(volume, '..v2', 'client-secret'), 'second-secret');
    symlinkSync('..v2', join(volume, '..data_tmp'));
    renameSync(join(volume, '..data_tmp'), join(volume, '..data')); // atomic, as the kubelet does
    rmSync(join(volume, '..v1'), { recursive: true });
    expect(await provider.readSecrets!(noProblems)).toBe(true);
    expect(provider.cacheKey).toBe(ap('second-secret').cacheKey);
    expect(await provider.readSecrets!(noProblems)).toBe(false);
  });

  it("sees an editor's write-and-rename", async () => {
    const path = join(dir, 'renamed');
    writeFileSync(path, 'first-secret');
    const provider = ap(secretFile(path));
    writeFileSync(`${path}.swp`, 'second-secret');
    renameSync(`${path}.swp`, path);
    expect(await provider.readSecrets!(noProblems)).toBe(true);
    expect(provider.cacheKey).toBe(ap('second-secret').cacheKey);
  });

  it('keeps the last good value while the file is empty or gone, reporting each problem once', async () => {
    const path = join(dir, 'flaky');
    writeFileSync(path, 'first-secret');
    const provider = ap(secretFile(path));
    const problems: string[] = [];
    const report = (problem: string) => problems.push(problem);
    writeFileSync(path, '');
    expect(await provider.readSecrets!(report)).toBe(false);
    expect(await provider.readSecrets!(report)).toBe(false);
    unlinkSync(path);
    expect(await provider.readSecrets!(report)).toBe(false);
    expect(provider.cacheKey).toBe(ap('first-secret').cacheKey);
    expect(problems).toEqual([
      `alternativePayments.clientSecret: ${path} is empty; the last good value is kept`,
      `alternativePayments.clientSecret: cannot read ${path} (ENOENT); the last good value is kept`,
    ]);
    writeFileSync(path, 'second-secret');
    expect(await provider.readSecrets!(report)).toBe(true);
    expect(problems).toHaveLength(2);
  });

  it('is read again before each token request: a rotated file is used for the next token', async () => {
    const path = join(dir, 'ap-secret');
    writeFileSync(path, `${AP_CLIENT.clientSecret}\n`);
    const tokens = createTokenManager({ providers: { ap: ap(secretFile(path)) } });
    await tokens.getToken('ap');
    emulator.rotateSecret({ clientId: AP_CLIENT.clientId, clientSecret: NEW_SECRET });
    writeFileSync(path, `${NEW_SECRET}\n`);
    await expect(tokens.getToken('ap', { forceRefresh: true })).resolves.toMatchObject({ tokenType: 'Bearer' });
    expect(tokens.stats().failures).toBe(0);
    emulator.rotateSecret({ clientId: AP_CLIENT.clientId, clientSecret: AP_CLIENT.clientSecret });
    await tokens.close();
  });
});
