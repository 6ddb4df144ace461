/**
 * redisStore's options and its codec, without a Redis server.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, redisStore } from '../../src/index.js';
import { TokenCodec, UnreadableValueError } from '../../src/stores/codec.js';
import { sampleToken } from './conformance.js';

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('redisStore options', () => {
  it('lists every bad field in one ConfigError, quoting neither a key nor a password', () => {
    const shortKey = Buffer.alloc(16, 7).toString('base64');
    const error = configError(() =>
      redisStore({ url: 'http://user:pa55word@redis.internal:6379' }, {
        encryptionKeys: ['not a key at all', shortKey],
        commandTimeoutMs: -5,
        pollIntervalMs: 1,
        keyPrefix: 42 as unknown as string,
        extra: true,
      } as never),
    );
    const paths = error.issues.map((issue) => issue.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'redisStore.url',
        'redisStore.encryptionKeys.0',
        'redisStore.encryptionKeys.1',
        'redisStore.commandTimeoutMs',
        'redisStore.pollIntervalMs',
        'redisStore.keyPrefix',
        'redisStore',
      ]),
    );
    expect(error.message).not.toContain('pa55word');
    expect(error.message).not.toContain(shortKey);
    expect(error.message).not.toContain('not a key at all');
  });

  it('rejects a connection that is neither a URL nor an ioredis client', () => {
    expect(configError(() => redisStore({ client: {} } as never)).issues[0]!.path).toBe('redisStore.client');
    expect(configError(() => redisStore(undefined as never)).issues.length).toBeGreaterThan(0);
    expect(configError(() => redisStore({ url: '' })).issues[0]!.path).toBe('redisStore.url');
  });
});

describe('token codec', () => {
  const key = () => randomBytes(32);

  it('plain mode round-trips JSON', () => {
    const codec = new TokenCodec([]);
    const token = sampleToken({ scope: 'a b' });
    expect(codec.decode('cred', codec.encode('cred', token))).toEqual(token);
  });

  it('encrypted mode round-trips, uses a fresh IV each time, and binds the value to its cache key', () => {
    const codec = new TokenCodec([key()]);
    const token = sampleToken();
    const one = codec.encode('cred-a', token);
    const two = codec.encode('cred-a', token);
    expect(one).not.toBe(two);
    expect(one).not.toContain(token.accessToken);
    expect(codec.decode('cred-a', one)).toEqual(token);
    expect(() => codec.decode('cred-b', one)).toThrow(UnreadableValueError);
  });

  it('rotation: old values decrypt with a later key list; unknown keys, tampering and mode mismatches are unreadable', () => {
    const [old, fresh, other] = [key(), key(), key()];
    const token = sampleToken();
    const written = new TokenCodec([old]).encode('c', token);
    expect(new TokenCodec([fresh, old]).decode('c', written)).toEqual(token);
    expect(() => new TokenCodec([other]).decode('c', written)).toThrow(UnreadableValueError);
    const tampered = JSON.parse(written) as { enc: { ct: string } };
    tampered.enc.ct = Buffer.from('x'.repeat(40)).toString('base64');
    expect(() => new TokenCodec([old]).decode('c', JSON.stringify(tampered))).toThrow(UnreadableValueError);
    expect(() => new TokenCodec([]).decode('c', written)).toThrow(UnreadableValueError);
    expect(() => new TokenCodec([old]).decode('c', new TokenCodec([]).encode('c', token))).toThrow(UnreadableValueError);
  });
});
