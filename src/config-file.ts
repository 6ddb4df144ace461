/**
 * What the command line's `--config` file and the broker's config file share: reading JSON without
 * ever quoting it, and client secrets taken from an environment variable or a file — never inline
 * (config files get committed, copied and pasted into tickets).
 */
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.js';

/** A name an environment variable can have. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The two ways a config file names a client secret; a schema spreads these into a provider section. */
export const secretSourceFields = {
  /** Name of the environment variable that holds the client secret. */
  clientSecretEnv: z.string().regex(ENV_NAME, 'must be an environment variable name').optional(),
  /** Path of a file that holds the client secret (relative to the config file). */
  clientSecretFile: z.string().min(1, 'must not be empty').optional(),
};

/** Which of the two a problem is about. */
export type SecretSourceField = 'clientSecretEnv' | 'clientSecretFile';

/** The problem when a section names neither source. */
export const SECRET_SOURCE_MISSING = 'is required (or clientSecretFile): the secret is read from an environment variable or a file';
/** The problem when a section names both. */
export const SECRET_SOURCE_TWICE = 'give clientSecretEnv or clientSecretFile, not both';
/** The problem with a secret written into the file. */
export const INLINE_SECRET_MESSAGE =
  'secrets are not accepted inline in a config file; use "clientSecretEnv": "<NAME OF AN ENVIRONMENT VARIABLE>" or "clientSecretFile": "<path>"';

// Fields that would hold a secret inline: refused by name, before schema validation, with a hint.
const INLINE_SECRET_FIELDS = ['clientSecret', 'client_secret', 'secret', 'password'];

/** Reads a JSON config file. Its text is never quoted in an error: it may hold anything. */
export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([{ path: '--config', message: `cannot read ${path}${systemCode(error)}` }]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    // JSON.parse quotes the text around the error, which may be a secret: keep only the position.
    const position = /(position \d+|line \d+ column \d+)/.exec(error instanceof Error ? error.message : '');
    throw new ConfigError([{ path: basename(path), message: `is not valid JSON${position === null ? '' : ` (at ${position[1]})`}` }]);
  }
}

/** True when a raw provider section holds a secret inline. */
export function hasInlineSecret(section: unknown): boolean {
  return typeof section === 'object' && section !== null && INLINE_SECRET_FIELDS.some((field) => Object.hasOwn(section, field));
}

/** The `providers.<id>.<field>` of a raw config that hold a secret inline. */
export function inlineSecrets(raw: unknown): Array<{ readonly id: string; readonly field: string }> {
  const providers = (raw as { providers?: unknown } | null)?.providers;
  if (typeof providers !== 'object' || providers === null) return [];
  const found: Array<{ id: string; field: string }> = [];
  for (const [id, section] of Object.entries(providers)) {
    if (typeof section !== 'object' || section === null) continue;
    for (const field of INLINE_SECRET_FIELDS) if (Object.hasOwn(section, field)) found.push({ id, field });
  }
  return found;
}

/** Reports a problem; `field` is undefined when it concerns the section as a whole. */
export type ReportSecretProblem = (field: SecretSourceField | undefined, message: string) => void;

/**
 * The client secret a section names, from the environment variable or the file (relative to
 * `baseDir`, trailing newline removed). Problems go to `report`; the result is then undefined.
 */
export function readSecretSource(
  section: { readonly clientSecretEnv?: string | undefined; readonly clientSecretFile?: string | undefined },
  context: { readonly env: Readonly<Record<string, string | undefined>>; readonly baseDir: string },
  report: ReportSecretProblem,
): string | undefined {
  const { clientSecretEnv, clientSecretFile } = section;
  if (clientSecretEnv === undefined && clientSecretFile === undefined) {
    report('clientSecretEnv', SECRET_SOURCE_MISSING);
    return undefined;
  }
  if (clientSecretEnv !== undefined && clientSecretFile !== undefined) {
    report(undefined, SECRET_SOURCE_TWICE);
    return undefined;
  }
  if (clientSecretEnv !== undefined) {
    const value = context.env[clientSecretEnv];
    if (value === undefined || value === '') {
      report('clientSecretEnv', `names ${clientSecretEnv}, which is not set`);
      return undefined;
    }
    return value;
  }
  return readSecretFile(resolve(context.baseDir, clientSecretFile!), (message) => report('clientSecretFile', message));
}

/** The secret in a file, without its trailing newline; problems go to `report`. */
export function readSecretFile(path: string, report: (message: string) => void): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    report(`cannot read ${path}${systemCode(error)}`);
    return undefined;
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret === '') {
    report(`${path} is empty`);
    return undefined;
  }
  return secret;
}

function systemCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? ` (${code})` : '';
}
