/**
 * `tokenbroker new-key` and `tokenbroker hash-key`: consumer keys for the broker. The broker's config
 * holds only a key's SHA-256 (`keySha256`); these make a key and hash one without the pitfalls of
 * `echo "$KEY" | sha256sum` (which hashes a trailing newline that is not part of the key).
 */
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { keyDigest } from '../../broker/auth.js';
import { contextOf, writeLine } from '../context.js';
import { EXIT, UsageError } from '../errors.js';

/** `tbk_` and 192 random bits, hex: long enough that an unsalted hash leaves nothing to guess. */
export function newKey(): string {
  return `tbk_${randomBytes(24).toString('hex')}`;
}

/** Registers `tokenbroker new-key`. */
export function newKeyCommand(program: Command): void {
  program
    .command('new-key')
    .summary('print a fresh consumer key and its hash for the broker config')
    .description(
      'Prints a new random consumer API key and its SHA-256 as JSON: { "key", "keySha256" }. ' +
        'Give the key to the consumer (through its own secret store); put only keySha256 in the broker config.',
    )
    .action((_options: unknown, command: Command) => {
      const context = contextOf(command);
      const key = newKey();
      writeLine(context.io.stdout, JSON.stringify({ key, keySha256: keyDigest(key) }, null, 2));
      context.exitCode = EXIT.ok;
    });
}

/** Registers `tokenbroker hash-key`. */
export function hashKeyCommand(program: Command): void {
  program
    .command('hash-key')
    .summary('read a consumer key from stdin and print its SHA-256 (keySha256)')
    .description(
      'Reads one key from stdin and prints its SHA-256, hex: the keySha256 of the broker config. ' +
        'One trailing newline is not part of the key (so `echo "$KEY" | tokenbroker hash-key` is right). ' +
        'The key is never taken as an argument: arguments end up in shell history and process lists.',
    )
    .action(async (_options: unknown, command: Command) => {
      const context = contextOf(command);
      const stdin = context.io.stdin;
      if (stdin === undefined) throw new UsageError('hash-key reads the key from stdin, and there is none');
      let text = '';
      for await (const chunk of stdin) text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      const key = text.replace(/\r?\n$/, '');
      if (key === '') throw new UsageError('hash-key read an empty key from stdin');
      if (/\s/.test(key)) throw new UsageError('the key read from stdin contains whitespace; keys are one word (tokenbroker new-key makes one)');
      writeLine(context.io.stdout, keyDigest(key));
      context.exitCode = EXIT.ok;
    });
}
