/**
 * `tokenbroker serve` as users run it: the built bin (dist/apps/cli/main.js) in a child process.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../../dist/apps/cli/main.js', import.meta.url));

export interface ServeProcess {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  /** The service URL, from the startup line. */
  readonly url: string;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits until stdout has a line matching `pattern` after `from` characters. */
  waitFor(pattern: RegExp, from?: number): Promise<void>;
}

export async function spawnServe(
  configFile: string,
  env: Record<string, string | undefined>,
  execArgv: string[] = [],
  args: string[] = [],
): Promise<ServeProcess> {
  const child = spawn(process.execPath, [...execArgv, MAIN, 'serve', '--config', configFile, ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const waitFor = (pattern: RegExp, from = 0) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${String(pattern)}: ${stdout} ${stderr}`)), 15_000);
      const check = () => {
        if (pattern.test(stdout.slice(from))) {
          clearTimeout(timer);
          child.stdout.off('data', check);
          resolve();
        }
      };
      child.stdout.on('data', check);
      void exited.then(() => {
        clearTimeout(timer);
        if (!pattern.test(stdout.slice(from))) reject(new Error(`serve exited: ${stdout} ${stderr}`));
      });
      check();
    });
  await waitFor(/tokenbroker broker listening/);
  const url = /"url":"(http:\/\/[^"]+)".*tokenbroker broker listening/.exec(stdout)![1]!;
  return { child, url, stdout: () => stdout, stderr: () => stderr, exited, waitFor };
}
