/**
 * `tokenbroker serve` without its optional peers: exit 2 and one line naming the install command.
 * The built bin runs with a module-resolution hook that makes `fastify` unresolvable, as in an app
 * that installed tokenbroker alone; `tokenbroker token` and `--help` are unaffected.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAIN } from '../broker/bin-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tokenbroker-peers-'));
const hook = join(dir, 'no-fastify.mjs');
writeFileSync(
  hook,
  `import { registerHooks } from 'node:module';
registerHooks({
  resolve(specifier, context, next) {
    if (specifier === 'fastify' || specifier === 'prom-client') {
      throw Object.assign(new Error("Cannot find package '" + specifier + "' imported from " + context.parentURL), { code: 'ERR_MODULE_NOT_FOUND' });
    }
    return next(specifier, context);
  },
});
`,
);

const run = (args: string[]) => spawnSync(process.execPath, ['--import', hook, MAIN, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH } });

describe('serve without fastify', () => {
  it('exits 2 with one line naming npm install fastify prom-client', () => {
    const file = join(dir, 'broker.json');
    writeFileSync(file, '{}');
    const result = run(['serve', '--config', file]);
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringContaining('npm install fastify prom-client')]);
    expect(result.stdout).toBe('');
  });

  it('the rest of the command does not need it', () => {
    expect(run(['--help']).status).toBe(0);
    const hashed = spawnSync(process.execPath, ['--import', hook, MAIN, 'hash-key'], { input: 'tbk_x\n', encoding: 'utf8' });
    expect(hashed.status).toBe(0);
  });
});
