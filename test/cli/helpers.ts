import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Emulator } from '../../src/apps/emulator/index.js';
import { SAMPLE_CLIENTS } from '../../src/apps/emulator/index.js';
import { run } from '../../src/apps/cli/main.js';

export const [AP_CLIENT, AUTOPAY_CLIENT] = SAMPLE_CLIENTS;

/** What one in-process run printed and returned. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

let cacheRoot: string | undefined;
let caches = 0;

/**
 * A token cache directory of its own for one run: without it, `tokenbroker token` would use the real
 * user's ~/.cache. Tests of the cache itself pass XDG_CACHE_HOME (or HOME) and share one on purpose.
 */
function freshCacheHome(): string {
  if (cacheRoot === undefined) {
    const root = mkdtempSync(join(tmpdir(), 'tokenbroker-cli-cache-'));
    cacheRoot = root;
    process.once('exit', () => rmSync(root, { recursive: true, force: true }));
  }
  return join(cacheRoot, String(++caches));
}

/**
 * Runs `tokenbroker <argv>` in-process with exactly `env` as its environment — plus, unless `env`
 * names XDG_CACHE_HOME or HOME, a token cache directory of this run's own.
 */
export async function runCli(argv: string[], env: Record<string, string | undefined> = {}, signal?: AbortSignal): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: 'XDG_CACHE_HOME' in env || 'HOME' in env ? env : { ...env, XDG_CACHE_HOME: freshCacheHome() },
    signal,
  });
  return { code, stdout, stderr };
}

/** The environment that points `tokenbroker token` at an emulator with its sample clients. */
export function emulatorEnv(emulator: Emulator): Record<string, string> {
  return {
    TOKENBROKER_AP_CLIENT_ID: AP_CLIENT.clientId,
    TOKENBROKER_AP_CLIENT_SECRET: AP_CLIENT.clientSecret,
    TOKENBROKER_AP_BASE_URL: emulator.alternativePaymentsBaseUrl,
    TOKENBROKER_AUTOPAY_CLIENT_ID: AUTOPAY_CLIENT.clientId,
    TOKENBROKER_AUTOPAY_CLIENT_SECRET: AUTOPAY_CLIENT.clientSecret,
    TOKENBROKER_AUTOPAY_TOKEN_URL: emulator.autopayTokenUrl,
    TOKENBROKER_AUTOPAY_API_BASE_URL: emulator.autopayApiBaseUrl,
  };
}

/** Lines of text, without the empty one after the final newline. */
export function lines(text: string): string[] {
  return text.split('\n').filter((line, index, all) => !(line === '' && index === all.length - 1));
}
