/**
 * ioredis is an optional peer dependency (issue 12): the built `tokenbroker/redis` entry loads it only
 * when redisStore() is called, and without it says how to install it, in one ConfigError.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const HOOK = fileURLToPath(new URL('./fixtures/without-ioredis.mjs', import.meta.url));
const ROOT = new URL('../../', import.meta.url);
const dist = (path: string) => new URL(`dist/${path}`, ROOT).href;

const SCRIPT = `
const { redisStore } = await import(${JSON.stringify(dist('stores/redis/index.js'))});
const { ConfigError } = await import(${JSON.stringify(dist('index.js'))});
const afterImport = globalThis.ioredisRequested;
let error;
try {
  redisStore({ url: 'redis://:some-pa55@127.0.0.1:6379' });
} catch (caught) {
  error = caught;
}
console.log(JSON.stringify({ afterImport, afterCall: globalThis.ioredisRequested, name: error?.name, config: error instanceof ConfigError, message: error?.message }));
`;

describe('tokenbroker/redis without ioredis installed', () => {
  it('imports without loading ioredis; redisStore() throws a ConfigError naming npm install ioredis', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', HOOK, '--input-type=module', '-e', SCRIPT], { timeout: 20_000 });
    const result = JSON.parse(stdout.trim()) as { afterImport: number; afterCall: number; name: string; config: boolean; message: string };
    expect(result.afterImport).toBe(0);
    expect(result.afterCall).toBeGreaterThan(0);
    expect(result.config).toBe(true);
    expect(result.name).toBe('ConfigError');
    expect(result.message).toBe(
      'Invalid configuration: redisStore: needs the ioredis package, an optional peer dependency of tokenbroker: npm install ioredis',
    );
    expect(result.message).not.toContain('pa55');
  });
});
