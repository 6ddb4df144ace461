import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/base/errors.js';
import { DEFAULT_KNOBS, SAMPLE_CLIENTS, startEmulator, type EmulatorOptions } from '../../src/apps/emulator/index.js';

const SECRET = 'do-not-print-me+/=%:';

async function startupError(options: unknown): Promise<string> {
  try {
    const emulator = await startEmulator(options as EmulatorOptions);
    await emulator.close();
  } catch (error) {
    // Bad options are a ConfigError, like every other option of the package.
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected startEmulator to reject');
}

describe('options', () => {
  it('names every bad field in one message', async () => {
    const message = await startupError({
      port: 70_000,
      errorRate: -0.1,
      latencyMs: 'slow',
      force429: { count: -1 },
      tokenLifetimeSeconds: { autopay: 0 },
      alternativePaymentsRateLimitPerSecond: 1.5,
      clients: [{ provider: 'stripe', clientId: '', clientSecret: SECRET }],
      now: 123,
    });
    for (const field of [
      'port',
      'errorRate',
      'latencyMs',
      'force429.count',
      'tokenLifetimeSeconds.autopay',
      'alternativePaymentsRateLimitPerSecond',
      'clients[0].provider',
      'clients[0].clientId',
      'now',
    ]) {
      expect(message).toContain(`${field}: `);
    }
    expect(message).toMatch(/^Invalid configuration \(\d+ problems\):\n {2}- startEmulator\./);
  });

  it('never quotes a secret, whatever is wrong with the client', async () => {
    const messages = await Promise.all([
      startupError({ clients: [{ provider: 'alternative-payments', clientId: 'a:b', clientSecret: SECRET }] }),
      startupError({ clients: [{ provider: 'autopay', clientId: 'x', clientSecret: SECRET, extra: SECRET }] }),
      startupError({
        clients: [
          { provider: 'autopay', clientId: 'dup', clientSecret: SECRET },
          { provider: 'autopay', clientId: 'dup', clientSecret: `${SECRET}2` },
        ],
      }),
      startupError({ clients: [{ provider: 'autopay', clientId: 'x', clientSecret: SECRET.repeat(200) }] }),
    ]);
    expect(messages[0]).toContain("clients[0].clientId: must not contain ':'");
    expect(messages[1]).toContain('clients[0]: has unknown option extra');
    expect(messages[2]).toContain('clients[1].clientId: duplicate client id for autopay');
    expect(messages[3]).toContain('clients[0].clientSecret: ');
    for (const message of messages) expect(message).not.toContain(SECRET);
  });

  it('refuses unknown options and Autopay settings on an Alternative Payments client', async () => {
    expect(await startupError({ prot: 1 })).toContain('startEmulator: has unknown option prot');
    expect(await startupError({ clients: [{ provider: 'alternative-payments', clientId: 'a', clientSecret: 's', scope: 'x' }] })).toContain(
      'clients[0].scope: is an Autopay setting',
    );
  });

  it.each(['0.0.0.0', '192.168.1.10', 'example.com', '::'])('refuses the non-loopback host %s', async (host) => {
    expect(await startupError({ host })).toContain('host: must be a loopback host');
  });

  it('listens on ::1 when asked, with a bracketed URL', async () => {
    let emulator;
    try {
      emulator = await startEmulator({ host: '::1' });
    } catch (error) {
      // Some CI containers have no IPv6 loopback; nothing to test there.
      if ((error as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL') return;
      throw error;
    }
    try {
      expect(emulator.url).toMatch(/^http:\/\/\[::1\]:\d+$/);
      expect((await fetch(`${emulator.url}/_emulator/stats`)).status).toBe(200);
    } finally {
      await emulator.close();
    }
  });

  it('registers no client at all for an empty clients list', async () => {
    const emulator = await startEmulator({ clients: [] });
    try {
      const sample = SAMPLE_CLIENTS[0];
      const response = await fetch(`${emulator.alternativePaymentsBaseUrl}/oauth/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${sample?.clientId}:${sample?.clientSecret}`).toString('base64')}`,
        },
        body: 'grant_type=client_credentials',
      });
      expect(response.status).toBe(403);
    } finally {
      await emulator.close();
    }
  });

  it('exports frozen defaults and sample clients', () => {
    expect(Object.isFrozen(DEFAULT_KNOBS)).toBe(true);
    expect(Object.isFrozen(SAMPLE_CLIENTS)).toBe(true);
    expect(SAMPLE_CLIENTS.map((client) => client.provider)).toEqual(['alternative-payments', 'autopay']);
    // The sample AP secret holds every character that breaks a form-urlencoding Basic client.
    for (const character of ['+', '/', '=', '%', ':']) expect(SAMPLE_CLIENTS[0]?.clientSecret).toContain(character);
  });
});
