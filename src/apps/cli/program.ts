/**
 * The `tokenbroker` program: commander set up to run in-process (no `process.exit`, output to the
 * given streams), every error turned into one line and an exit code. Subcommands are plain functions
 * `(program) => void` listed in `main.ts`.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { attachContext, type CliContext, type CliIo, writeLine } from './context.js';
import { errorLine, EXIT, exitCodeFor, refuseSecretArguments, withoutOptionValues } from './errors.js';

/** A subcommand: adds itself to the program. */
export type RegisterCommand = (program: Command) => void;

/** The package version, read once from package.json (dist/apps/cli/ and src/apps/cli/ both sit three levels below it). */
export const VERSION: string = (() => {
  try {
    const json = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof json.version === 'string' ? json.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

/** Builds the program with its subcommands, writing to `context.io`. */
export function buildProgram(commands: readonly RegisterCommand[], context: CliContext): Command {
  const { io } = context;
  const program = new Command('tokenbroker')
    .description(
      'OAuth 2.0 client-credentials tokens for payment APIs (Alternative Payments, Autopay): fetch one from the ' +
        'command line, serve them to your services as a credential broker, or run an offline emulator of both ' +
        'providers for tests and demos.',
    )
    .version(VERSION, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show help for a command')
    .helpCommand('help [command]', 'show help for a command')
    .showSuggestionAfterError(true)
    // Settings below are inherited by subcommands created after them.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // One line, in our own format, never quoting an option's value.
      outputError: (text, write) => write(`tokenbroker: ${withoutOptionValues(text.replace(/^error: /, '').trim())}\n`),
    })
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 other failure, 2 usage or configuration error, 3 invalid credentials,\n' +
        '4 provider unavailable or rate-limited. Run `tokenbroker help <command>` for details; docs/cli.md has it all.',
    );
  attachContext(program, context);
  for (const register of commands) register(program);
  return program;
}

/**
 * Runs the program on `argv` (the user's arguments, without `node` and the script) and resolves to
 * the exit code. Never throws and never calls `process.exit`.
 */
export async function runProgram(commands: readonly RegisterCommand[], argv: readonly string[], io: CliIo): Promise<number> {
  const context: CliContext = { io, secrets: new Set(), exitCode: EXIT.ok };
  try {
    refuseSecretArguments(argv);
    const program = buildProgram(commands, context);
    if (argv.length === 0) {
      program.outputHelp({ error: true });
      return EXIT.config;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return context.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version were printed and exit 0; commander has already printed its own errors.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT.ok;
      if (error.code === 'commander.help' || error.code === 'commander.executeSubCommandAsync') return error.exitCode === 0 ? EXIT.ok : EXIT.config;
      return EXIT.config;
    }
    writeLine(io.stderr, `tokenbroker: ${errorLine(error, context.secrets)}`);
    return exitCodeFor(error);
  }
}
