/**
 * The logger option takes a pino logger as is: tokenbroker calls `level(object, message)`.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createTokenManager, ProviderUnavailableError } from '../src/index.js';
import { fakeProvider } from './helpers/fake-provider.js';

describe('logger', () => {
  it('writes structured lines through a real pino logger', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const logger = pino({ level: 'debug' }, sink);
    const fake = fakeProvider();
    fake.queue(new ProviderUnavailableError('blip'));
    const tokens = createTokenManager({ providers: { ap: fake.provider }, logger, retry: { baseDelayMs: 1 } });
    await tokens.getToken('ap');
    await tokens.close();
    expect(lines.find((line) => line.msg === 'new token issued')).toMatchObject({ provider: 'ap', reason: 'coldStart', level: 30 });
    expect(lines.find((line) => line.msg === 'token request failed; retrying')).toMatchObject({ provider: 'ap', attempt: 1, level: 20 });
  });

  it('a logger that throws does not break token delivery', async () => {
    const explode = () => {
      throw new Error('logger down');
    };
    const tokens = createTokenManager({
      providers: { ap: fakeProvider().provider },
      logger: { debug: explode, info: explode, warn: explode, error: explode },
    });
    await expect(tokens.getToken('ap')).resolves.toMatchObject({ tokenType: 'Bearer' });
    await tokens.close();
  });
});
