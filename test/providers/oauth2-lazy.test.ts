/**
 * Issue 12 (a): `import('tokenbroker')` and building an `oauth2()` provider load none of openid-client,
 * jose or oauth4webapi; the first token request does. Run in a child so the module graph is a cold one.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

it('openid-client, jose and oauth4webapi load on the first token request, not on import or construction', async () => {
  const { stdout } = await run(
    `${root}node_modules/.bin/node`,
    ['--import', 'tsx', `${root}test/providers/fixtures/oauth2-lazy-child.mjs`, `${root}src/index.ts`],
    {
      cwd: root,
      timeout: 30_000,
    },
  );
  const { before, after } = JSON.parse(stdout.trim().split('\n').pop()!) as { before: number; after: number };
  expect(before).toBe(0);
  expect(after).toBeGreaterThan(0);
});
