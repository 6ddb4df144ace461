/**
 * docs/proxy.md stays true: its Python example (standard library, at most 10 lines of code) and its
 * Java example run against a broker in front of the emulator, when python3 / java are installed; its
 * configuration example and sidecar config pass validation.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveBrokerConfig } from '../../src/apps/broker/config.js';
import { ConfigError } from '../../src/base/errors.js';
import { KEYS, startHarness, type BrokerHarness } from './helpers.js';

const run = promisify(execFile);
const doc = readFileSync(new URL('../../docs/proxy.md', import.meta.url), 'utf8');
const block = (language: string, after = 0): string => {
  const match = new RegExp('```' + language + '\\n([\\s\\S]*?)```').exec(doc.slice(after));
  if (match === null) throw new Error(`no ${language} block in docs/proxy.md`);
  return match[1]!;
};
const has = async (command: string, args: string[]): Promise<boolean> =>
  run(command, args).then(
    () => true,
    () => false,
  );

describe('docs/proxy.md', () => {
  let harness: BrokerHarness;
  let dir: string;
  beforeAll(async () => {
    harness = await startHarness();
    dir = mkdtempSync(join(tmpdir(), 'tb-proxy-docs-'));
  });
  afterAll(async () => {
    await harness.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const env = () => ({ ...process.env, BROKER_URL: harness.url, BROKER_KEY: KEYS.billing });

  it('the Python example is at most 10 lines of code and prints the customers', async (context) => {
    const python = block('python');
    const code = python.split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('#'));
    expect(code.length).toBeLessThanOrEqual(10);
    expect(code.length).toBe(7); // the README says seven
    if (!(await has('python3', ['--version']))) return context.skip('python3 is not installed');
    const file = join(dir, 'customers.py');
    writeFileSync(file, python);
    const { stdout } = await run('python3', [file], { env: env(), timeout: 30_000 });
    expect(stdout).toMatch(/^\[\{'id': 'cus_/);
    expect(harness.emulator.stats().providers['alternative-payments'].apiCalls.ok).toBeGreaterThan(0);
  });

  it('the Java example prints 200 and the customers', async (context) => {
    if (!(await has('java', ['-version']))) return context.skip('java is not installed');
    const file = join(dir, 'Customers.java');
    writeFileSync(file, block('java'));
    const { stdout } = await run('java', [file], { env: env(), timeout: 60_000 });
    expect(stdout).toMatch(/^200 \{"data":\[/);
  }, 90_000);

  it('the curl examples work as written', async (context) => {
    if (!(await has('curl', ['--version']))) return context.skip('curl is not installed');
    const commands = block('sh')
      .replace(/\\\n\s*/g, '')
      .split('\n')
      .filter((line) => line.startsWith('curl '));
    expect(commands).toHaveLength(2);
    for (const command of commands) {
      const { stdout } = await run('sh', ['-c', command], { env: env(), timeout: 30_000 });
      expect(stdout).toMatch(/^\{/);
      expect(stdout).not.toMatch(/"error"/);
    }
  });

  it('the configuration and sidecar examples are valid', () => {
    const issues = (json: string): string[] => {
      try {
        resolveBrokerConfig(JSON.parse(json.replaceAll('"…"', '"x"').replace(/"keySha256": "x"/, `"keySha256": "${'a'.repeat(64)}"`)), {
          env: { AP_SECRET: 'a', IDP_SECRET: 'b' },
        });
      } catch (error) {
        if (error instanceof ConfigError) return error.issues.map((issue) => `${issue.path}: ${issue.message}`);
        throw error;
      }
      return [];
    };
    const configuration = block('json', doc.indexOf('## Configuration'));
    expect(issues(configuration)).toEqual([]);
    const sidecar = block('json', doc.indexOf('## The sidecar shape'));
    // Only the secret file it names (which does not exist here) is reported.
    expect(issues(sidecar)).toEqual([expect.stringMatching(/^providers\.ap\.clientSecretFile: cannot read \/run\/secrets\/ap/)]);
  });
});
