/**
 * Runs the example of docs/distributed.md as a user would (node, the built package), so it cannot rot.
 * Only the imports are rewritten, from 'tokenbroker' to this checkout's dist/.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWithoutRedis, startRedisServer, type RedisServer } from './redis-server.js';

const skip = skipWithoutRedis('test/redis/docs-example.pkg.test.ts');
const root = new URL('../../', import.meta.url);
let server: RedisServer;

describe.skipIf(skip)('docs/distributed.md example', () => {
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('prints one distinct token and one token request', async () => {
    const doc = await readFile(new URL('docs/distributed.md', root), 'utf8');
    const match = /<!-- example: fleet-demo -->\s*```js\n([\s\S]*?)```/.exec(doc);
    expect(match).not.toBeNull();
    const dist = (path: string) => pathToFileURL(join(new URL('dist/', root).pathname, path)).href;
    const source = match![1]!
      .replace("from 'tokenbroker/emulator'", `from '${dist('apps/emulator/index.js')}'`)
      .replace("from 'tokenbroker/redis'", `from '${dist('stores/redis/index.js')}'`)
      .replace("from 'tokenbroker'", `from '${dist('index.js')}'`);
    const dir = await mkdtemp(join(tmpdir(), 'tokenbroker-docs-'));
    try {
      const file = join(dir, 'fleet-demo.mjs');
      await writeFile(file, source);
      const { stdout } = await promisify(execFile)(process.execPath, [file], {
        env: { ...process.env, REDIS_URL: server.url },
        timeout: 20_000,
      });
      expect(stdout).toContain('distinct tokens: 1');
      expect(stdout).toContain('token requests: 1');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
