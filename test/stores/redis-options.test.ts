/**
 * redisStore's options and its codec, without a Redis server.
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/index.js';
import { TokenCodec, UnreadableValueError } from '../../src/stores/codec.js';
import { loadIoredis } from '../../src/stores/redis/connection.js';
import { redisStore } from '../../src/stores/redis/index.js';
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
      redisStore({
        url: 'http://user:pa55word@redis.internal:6379',
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
        'redisStore.encryptionKeys[0]',
        'redisStore.encryptionKeys[1]',
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

describe('redisStore connections', () => {
  it('takes exactly one of url, client, cluster, sentinels, and says so', () => {
    const none = configError(() => redisStore({ keyPrefix: 'x:' } as never));
    expect(none.issues).toEqual([{ path: 'redisStore', message: 'needs one of url, client, cluster, sentinels' }]);
    const two = configError(() => redisStore({ url: 'redis://127.0.0.1:6379', cluster: [{ host: '127.0.0.1', port: 7000 }], commandTimeoutMs: 0 } as never));
    expect(two.issues.map((issue) => issue.path)).toEqual(['redisStore', 'redisStore.commandTimeoutMs']);
    expect(two.issues[0]!.message).toBe('takes only one of url, client, cluster, sentinels (got url, cluster)');
  });

  it('validates Cluster nodes and Sentinel settings field by field, quoting no password', () => {
    expect(configError(() => redisStore({ cluster: [] })).issues.map((issue) => issue.path)).toEqual(['redisStore.cluster']);
    expect(configError(() => redisStore({ cluster: [{ host: '', port: 70_000 }] })).issues.map((issue) => issue.path)).toEqual([
      'redisStore.cluster[0].host',
      'redisStore.cluster[0].port',
    ]);
    const sentinel = configError(() =>
      redisStore({ sentinels: [{ host: '127.0.0.1', port: 0 }], password: 'sentinel-pa55', sentinelPassword: 7, db: -1 } as never),
    );
    expect(sentinel.issues.map((issue) => issue.path).sort()).toEqual([
      'redisStore.db',
      'redisStore.name',
      'redisStore.sentinelPassword',
      'redisStore.sentinels[0].port',
    ]);
    expect(sentinel.message).not.toContain('sentinel-pa55');
    expect(configError(() => redisStore({ sentinels: [{ host: 'h', port: 1 }], name: 'm', role: 'slave' } as never)).issues[0]!.message).toMatch(
      /unknown option role/,
    );
  });

  it('accepts an ioredis Cluster as client, and shows which kind it is connected to, never a password', async () => {
    const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
    const redis = new Redis({ lazyConnect: true });
    const stores = [
      redisStore({ client: cluster }),
      redisStore({ client: redis }),
      redisStore({ cluster: [{ host: '127.0.0.1', port: 1 }], options: { redisOptions: { password: 'cluster-pa55' } } }),
      redisStore({ sentinels: [{ host: '127.0.0.1', port: 1 }], name: 'mymaster', password: 'sentinel-pa55' }),
    ];
    try {
      const shown = stores.map((store) => JSON.stringify(store));
      expect(shown[0]).toContain('"connection":"cluster client"');
      expect(shown[1]).toContain('"connection":"client"');
      expect(shown[2]).toContain('"cluster":["127.0.0.1:1"]');
      expect(shown[3]).toContain('"sentinels":["127.0.0.1:1"],"name":"mymaster"');
      const everything = `${shown.join(' ')} ${stores.map((store) => inspect(store, { depth: 10, showHidden: true })).join(' ')}`;
      expect(everything).not.toContain('pa55');
    } finally {
      await Promise.all(stores.map((store) => store.close()));
      cluster.disconnect();
      redis.disconnect();
    }
  });

  it('without ioredis installed: a ConfigError naming npm install ioredis; other load failures are not disguised', () => {
    const missing = () => {
      throw Object.assign(new Error("Cannot find module 'ioredis'"), { code: 'MODULE_NOT_FOUND' });
    };
    const error = configError(() => loadIoredis(missing));
    expect(error.message).toBe('Invalid configuration: redisStore: needs the ioredis package, an optional peer dependency of tokenbroker: npm install ioredis');
    const broken = () => {
      throw new SyntaxError('Unexpected token');
    };
    expect(() => loadIoredis(broken)).toThrow(SyntaxError);
    expect(loadIoredis().Cluster).toBe(Cluster);
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
