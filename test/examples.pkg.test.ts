/**
 * Every program in examples/ runs against the emulator and exits 0: an example that stops working fails CI.
 * They import 'tokenbroker' by name, as users do; the package resolves to the dist/ built by the global setup.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWithoutRedis, startRedisServer, type RedisServer } from './redis/redis-server.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const examples = readdirSync(new URL('../examples', import.meta.url)).filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'));

const expectations: Record<string, RegExp[]> = {
  'redis.ts': [/1,000 calls from two managers → 1 token, 1 token request to the provider/],
  'alternative-payments.ts': [/101 getToken calls, 1 token issued, 1 token request sent/],
  'both-providers.ts': [/Alternative Payments customers: \w+/, /Autopay member: .*"status":"joined"/, /"invalidated":1/],
  'custom-provider.ts': [/50 concurrent calls → 1 token, 1 request to my-bank/],
  'cluster.ts': [/4 workers × 250 calls → 1 token, 1 token request to the provider/, /a worker started later → the same token: true, 1 token request in all/],
};

describe('examples', () => {
  it('has an expectation for every example', () => {
    expect(examples.sort()).toEqual(Object.keys(expectations).sort());
  });

  let redis: RedisServer | undefined;
  beforeAll(async () => {
    if (!skipWithoutRedis('examples/redis.ts')) redis = await startRedisServer();
  });
  afterAll(() => redis?.close());

  it.each(examples)(
    '%s runs and prints what it promises',
    (file) => {
      if (file === 'redis.ts' && redis === undefined) return; // skipped, said so above
      const env = { ...process.env };
      for (const name of Object.keys(env)) if (/^(AP|AUTOPAY|REDIS)_/.test(name)) delete env[name];
      if (redis !== undefined) env.REDIS_URL = redis.url;
      const result = spawnSync(process.execPath, ['--import', 'tsx', `examples/${file}`], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      for (const pattern of expectations[file] ?? []) expect(result.stdout).toMatch(pattern);
    },
    90_000,
  ); // cluster.ts starts six processes, each compiling with tsx: slow on a loaded machine
});
