/**
 * The memory bench measures what each credential costs, not what the harness adds. bench/memory-child.ts
 * runs under Node's own type stripping against the built package: under tsx (esbuild's `keepNames`),
 * every function the child creates per credential gets a `name` property defined on it, which gives it a
 * 256-byte property dictionary. Up to 0.2.0's bench that was charged to the subjects with such a closure
 * (@badgateway's `getNewToken`, a `defineProvider` requestToken): the peer's figure was 760 B, not 479 B.
 *
 * This test runs the child both ways for @badgateway/oauth2-client and the floor, and checks that the
 * harness as the bench runs it shows no such surcharge while tsx does.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const CREDENTIALS = '2000';

async function bytesPerCredential(subject: string, loader: readonly string[]): Promise<number> {
  const { stdout } = await run(
    process.execPath,
    ['--expose-gc', '--disable-warning=ExperimentalWarning', ...loader, 'bench/memory-child.ts', subject, CREDENTIALS],
    {
      cwd: root,
      timeout: 60_000,
    },
  );
  return (JSON.parse(stdout.trim().split('\n').pop()!) as { bytesPerCredential: number }).bytesPerCredential;
}

describe('memory bench harness', () => {
  it('charges a per-credential closure its own size, where tsx would add a property dictionary to it', async () => {
    const floor = await bytesPerCredential('floor', []);
    const badgateway = await bytesPerCredential('@badgateway/oauth2-client', []);
    const badgatewayUnderTsx = await bytesPerCredential('@badgateway/oauth2-client', ['--import', 'tsx']);
    // Measured at 10,000: floor 206 B, @badgateway 479 B under type stripping, 760 B under tsx.
    expect(badgateway - floor).toBeLessThan(400);
    expect(badgatewayUnderTsx - badgateway).toBeGreaterThan(150);
  }, 120_000);
});
