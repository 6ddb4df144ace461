/**
 * Exit codes, the one-line error report, and the refusal of secrets on the command line.
 *
 * Scripts branch on the exit code, people read the line: `tokenbroker: <message>` on stderr, never a
 * stack, never a secret.
 */
import { CommanderError } from 'commander';
import { ConfigError, InvalidCredentialsError, IssuanceLimitError, ProviderUnavailableError, RateLimitedError } from '../../base/errors.js';
import { scrub } from '../../base/redact.js';

/** The exit codes of every `tokenbroker` command. */
export const EXIT = {
  /** Done. */
  ok: 0,
  /** Anything not listed below (an unusable token response, an unexpected failure). */
  failure: 1,
  /** Usage or configuration error: a bad option, a missing or invalid environment variable or config file. */
  config: 2,
  /** The provider refused the client id or secret. */
  invalidCredentials: 3,
  /** The provider is unreachable, failing, rate-limiting us, or the issuance guard refused to ask it. */
  unavailable: 4,
  /** Interrupted (SIGINT/SIGTERM) before a token arrived. */
  interrupted: 130,
} as const;

/** A usage or configuration problem found by the CLI itself (exit 2). The message is safe to print. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The program was asked to stop before it finished (exit 130). */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
}

/** The exit code for an error thrown by a command. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError || error instanceof ConfigError) return EXIT.config;
  if (error instanceof CommanderError) return EXIT.config;
  if (error instanceof InvalidCredentialsError) return EXIT.invalidCredentials;
  if (error instanceof ProviderUnavailableError || error instanceof RateLimitedError || error instanceof IssuanceLimitError) {
    return EXIT.unavailable;
  }
  if (error instanceof InterruptedError) return EXIT.interrupted;
  return EXIT.failure;
}

/**
 * The one-line message for an error: a ConfigError's issues joined with `; `, whitespace collapsed,
 * every known secret replaced by `[redacted]`, and at most 500 characters.
 */
export function errorLine(error: unknown, secrets: Iterable<string> = []): string {
  let message: string;
  if (error instanceof ConfigError) {
    message = `invalid configuration: ${error.issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ')}`;
  } else if (error instanceof Error) {
    message = error.message;
    // "fetch failed" says little; the system code of its cause (ECONNREFUSED, ENOTFOUND) says what.
    const code = (error.cause as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code) && !message.includes(code)) message += ` (${code})`;
    const retryAfterMs = (error as { retryAfterMs?: unknown }).retryAfterMs;
    if (typeof retryAfterMs === 'number' && retryAfterMs > 0 && !/retry/i.test(message)) {
      message += ` (retry in ${Math.ceil(retryAfterMs / 1000)} s)`;
    }
  } else {
    message = 'unexpected failure';
  }
  // Longest first, so a secret that contains another is replaced whole; the length limit is ours (below).
  message = scrub(
    message,
    [...secrets].sort((a, b) => b.length - a.length),
    Number.POSITIVE_INFINITY,
  );
  message = message.replace(/\s+/g, ' ').trim();
  return message.length > 500 ? `${message.slice(0, 499)}…` : message;
}

// Option names that mean "here is a secret": --client-secret, --secret, --clientSecret, --password,
// --api-key, --ap-client-secret=…  Matched on the name only, lower-cased with '-' and '_' removed.
const SECRET_OPTION = /secret|passw|apikey|credential/;

/** A refusal that names the option but never its value. */
export class SecretInArgvError extends UsageError {}

/**
 * Refuses any argument that looks like an option carrying a secret: argv is visible to every user of
 * the machine (`ps`) and lands in shell history. Only the option's name is quoted, never a value.
 * Arguments after `--` are not options and are left to the parser.
 */
export function refuseSecretArguments(argv: readonly string[]): void {
  for (const argument of argv) {
    if (argument === '--') return;
    const match = /^--?([^=]+)/.exec(argument);
    if (match === null) continue;
    const name = match[1]!;
    if (!SECRET_OPTION.test(name.toLowerCase().replace(/[-_]/g, ''))) continue;
    throw new SecretInArgvError(
      `refusing ${JSON.stringify(`${argument.startsWith('--') ? '--' : '-'}${name}`)}: secrets are never taken from the command line ` +
        '(it shows in `ps` and shell history). Set TOKENBROKER_AP_CLIENT_SECRET or TOKENBROKER_AUTOPAY_CLIENT_SECRET ' +
        '(or …_CLIENT_SECRET_FILE with a path), or use clientSecretEnv / clientSecretFile in a --config file',
    );
  }
}

/**
 * Commander's own messages quote the offending argument (`unknown option '--x=value'`); a value after
 * `=` could be a secret typed in the wrong place, so it is cut off.
 */
export function withoutOptionValues(message: string): string {
  return message
    .replace(/'(--?[^'=\s]+)=[^']*'/g, "'$1=…'")
    .replace(/(value|argument) '[^']*' is invalid/g, '$1 is invalid')
    .replace(/(but got \d+): .*$/s, '$1.');
}
