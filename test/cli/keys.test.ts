/**
 * `tokenbroker new-key` and `tokenbroker hash-key`, and `serve --check` on key hashes.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/apps/cli/main.js';

async function cli(argv: string[], input?: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    env: {},
    ...(input === undefined
      ? {}
      : {
          stdin: (async function* () {
            yield* input;
          })(),
        }),
  });
  return { code, stdout, stderr };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('tokenbroker new-key', () => {
  it('prints a fresh 192-bit key and its SHA-256', async () => {
    const a = await cli(['new-key']);
    const b = await cli(['new-key']);
    expect(a.code).toBe(0);
    const { key, keySha256 } = JSON.parse(a.stdout) as { key: string; keySha256: string };
    expect(key).toMatch(/^tbk_[0-9a-f]{48}$/);
    expect(keySha256).toBe(sha256(key));
    expect((JSON.parse(b.stdout) as { key: string }).key).not.toBe(key);
  });
});

describe('tokenbroker hash-key', () => {
  it('hashes the key read from stdin; one trailing newline is not part of the key', async () => {
    const key = 'tbk_0123456789abcdef0123456789abcdef0123456789abcdef';
    for (const input of [[key], [`${key}\n`], [`${key}\r\n`], [key.slice(0, 10), key.slice(10), '\n']]) {
      const result = await cli(['hash-key'], input);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(`${sha256(key)}\n`);
    }
  });

  it('refuses an empty key and a key with whitespace, exit 2', async () => {
    for (const input of [[''], ['\n'], ['two words\n']]) {
      const result = await cli(['hash-key'], input);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
    }
  });
});

describe('serve --check and key hashes', () => {
  it('refuses the SHA-256 of an empty key, naming the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenbroker-keys-'));
    const file = join(dir, 'broker.json');
    writeFileSync(
      file,
      JSON.stringify({
        store: { type: 'memory' },
        providers: { ap: { type: 'alternative-payments', clientId: 'a', clientSecretEnv: 'S' } },
        consumers: [{ name: 'c', keySha256: sha256(''), providers: ['ap'] }],
      }),
    );
    let stderr = '';
    const code = await run(['serve', '--config', file, '--check'], {
      stdout: { write: () => {} },
      stderr: { write: (t: string) => (stderr += t) },
      env: { S: 'secret' },
    });
    expect(code).toBe(2);
    expect(stderr).toContain('broker.json: consumers[0].keySha256: is the SHA-256 of an empty key');
  });
});
