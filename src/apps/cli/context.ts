/**
 * What a subcommand gets from the program that runs it: where to write, the environment, and the
 * signal that says "stop" (Ctrl-C, SIGTERM, or a test). Passed around by command rather than read from
 * `process`, so the whole program runs in-process in tests.
 */
import type { Command } from 'commander';

/** Anything with a `write(text)`: `process.stdout`, or a test's collector. */
export interface Output {
  write(text: string): unknown;
}

/** The outside world of one run of the program. */
export interface CliIo {
  readonly stdout: Output;
  readonly stderr: Output;
  /** Where commands that read input (`hash-key`) read it: `process.stdin`, or a test's chunks. */
  readonly stdin?: AsyncIterable<string | Uint8Array> | undefined;
  /** The environment variables to read configuration from (normally `process.env`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * Aborted when the program should stop: long-running commands (`emulate`) end cleanly and exit 0,
   * a token request under way is abandoned. Without one, `emulate` runs until SIGINT or SIGTERM.
   */
  readonly signal?: AbortSignal | undefined;
}

/** The context of one run, shared by the program and its subcommands. */
export interface CliContext {
  readonly io: CliIo;
  /** Strings that must never be printed (secrets the configuration loaded); scrubbed from error output. */
  readonly secrets: Set<string>;
  /** The exit code an action chose; errors thrown by actions are mapped by `exitCodeFor` instead. */
  exitCode: number;
}

const contexts = new WeakMap<Command, CliContext>();

/** Attaches a run's context to the root command. */
export function attachContext(program: Command, context: CliContext): void {
  contexts.set(program, context);
}

/** The context of the run `command` belongs to (looked up on its root command). */
export function contextOf(command: Command): CliContext {
  let root = command;
  while (root.parent !== null) root = root.parent;
  const context = contexts.get(root);
  if (context === undefined) throw new Error('tokenbroker: command used outside run()');
  return context;
}

/** Writes one line (a newline is added). */
export function writeLine(output: Output, line = ''): void {
  output.write(`${line}\n`);
}
