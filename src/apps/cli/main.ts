#!/usr/bin/env node
/**
 * The `tokenbroker` command. Subcommands live in `./commands/`, one module each exporting
 * `(program) => void`; adding one is one line in {@link COMMANDS}.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cacheCommand } from './commands/cache.js';
import { emulateCommand } from './commands/emulate.js';
import { hashKeyCommand, newKeyCommand } from './commands/keys.js';
import { serveCommand } from './commands/serve.js';
import { tokenCommand } from './commands/token.js';
import type { CliIo } from './context.js';
import { runProgram, type RegisterCommand } from './program.js';

export type { CliIo, Output } from './context.js';
export { EXIT } from './errors.js';

/** Every subcommand, in the order `--help` lists them. */
export const COMMANDS: readonly RegisterCommand[] = [tokenCommand, cacheCommand, emulateCommand, serveCommand, newKeyCommand, hashKeyCommand];

/**
 * Runs `tokenbroker` in-process: `argv` is the user's arguments (`['token', 'ap']`). Resolves to the
 * exit code; never throws, never exits the process.
 */
export function run(argv: readonly string[], io: CliIo): Promise<number> {
  return runProgram(COMMANDS, argv, io);
}

/** The real process: its arguments and streams, SIGINT/SIGTERM as the stop signal, its exit code. */
async function main(): Promise<void> {
  setProcessTitle();
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => stop.abort(new Error(`received ${signal}`));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const code = await run(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    // A getter: process.stdin is set up only if a command reads it.
    get stdin() {
      return process.stdin;
    },
    env: process.env,
    signal: stop.signal,
  });
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.exitCode = code;
  // Everything is closed by now and the process ends by itself; should a library leave a handle open,
  // it still ends promptly instead of hanging a script. (unref: this timer alone keeps nothing alive.)
  setTimeout(() => process.exit(code), 2_000).unref();
}

/**
 * The process is called `tokenbroker`, not `node`: `pidof tokenbroker`, `pkill -HUP tokenbroker`, `ps`
 * and `top` find it (docs/broker.md, "Signals"). On Linux the new title overwrites the memory of the
 * original command line, so it is cut to that length: `node /path/to/main.js` is always longer than
 * `tokenbroker`.
 */
export const PROCESS_TITLE = 'tokenbroker';

function setProcessTitle(): void {
  try {
    process.title = PROCESS_TITLE;
  } catch {
    // Some platforms refuse (none that Node supports today); the name is a convenience, not a need.
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    // npm's bin links are symlinks: compare real paths.
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) await main();
