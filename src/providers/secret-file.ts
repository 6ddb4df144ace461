/**
 * `secretFile(path)`: a secret kept in a file that may change while the process runs. The file is
 * opened by name on every read, so each way it can be replaced is seen:
 *
 * - a Kubernetes secret volume: the kubelet writes a new `..<timestamp>` directory and swaps the
 *   `..data` symlink the file's name points through — opening the name follows the new link;
 * - an editor or a deploy tool that writes a new file and renames it over the old one — the name now
 *   names the new file (a process that kept the old descriptor open would not see it);
 * - a writer that truncates first: the file is briefly empty — an empty or unreadable file keeps the
 *   last good value (the problem is reported once), it never becomes an empty secret.
 *
 * The file is read when a token is about to be requested (rare: once per token lifetime), not polled:
 * opening a small file then costs less than keeping a watcher, and it cannot miss a change.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { inspect } from 'node:util';

const SECRET_FILE = Symbol.for('tokenbroker.secretFile');

/**
 * A secret (client secret, private key, certificate, client assertion) read from a file that may change.
 * Made by {@link secretFile}; holds the path only, never the content.
 */
export interface SecretFile {
  /** The absolute path of the file. */
  readonly path: string;
  /** Marks objects made by {@link secretFile}. */
  readonly [SECRET_FILE]: true;
}

/**
 * A secret source that reads `path` again whenever a token is requested, and keeps the last good value
 * while the file is empty or unreadable. One trailing newline (`\n` or `\r\n`) is removed, as
 * `echo secret > file` and `kubectl create secret --from-file` leave one.
 *
 * @example
 * ```ts
 * import { alternativePayments, secretFile } from 'tokenbroker';
 *
 * const ap = alternativePayments({
 *   clientId: process.env.AP_CLIENT_ID!,
 *   clientSecret: secretFile('/var/run/secrets/ap/client-secret'), // a Kubernetes secret volume
 * });
 * ```
 */
export function secretFile(path: string): SecretFile {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('secretFile(path): path must be a non-empty string');
  const file = new SecretFileRef(resolve(path));
  return Object.freeze(file);
}

/** True for an object made by {@link secretFile}. */
export function isSecretFile(value: unknown): value is SecretFile {
  return typeof value === 'object' && value !== null && (value as Partial<SecretFile>)[SECRET_FILE] === true;
}

/** What one read of a secret file found: the content, or why there is none. */
export type SecretFileRead = { readonly ok: true; readonly value: string } | { readonly ok: false; readonly problem: string };

/** Reads the file now, synchronously (at construction, where the first value must be known). */
export function readSecretFileSync(file: SecretFile): SecretFileRead {
  try {
    return contentOf(file, readFileSync(file.path, 'utf8'));
  } catch (error) {
    return { ok: false, problem: `cannot read ${file.path}${systemCode(error)}` };
  }
}

/** Reads the file now. */
export async function readSecretFileNow(file: SecretFile): Promise<SecretFileRead> {
  try {
    return contentOf(file, await readFile(file.path, 'utf8'));
  } catch (error) {
    return { ok: false, problem: `cannot read ${file.path}${systemCode(error)}` };
  }
}

function contentOf(file: SecretFile, text: string): SecretFileRead {
  const value = text.replace(/\r?\n$/, '');
  return value.length === 0 ? { ok: false, problem: `${file.path} is empty` } : { ok: true, value };
}

function systemCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? ` (${code})` : '';
}

/** The object {@link secretFile} returns: a path and the brand; shown as `SecretFile <path>`. */
class SecretFileRef implements SecretFile {
  readonly path: string;
  readonly [SECRET_FILE] = true as const;

  constructor(path: string) {
    this.path = path;
  }

  toJSON(): unknown {
    return { secretFile: this.path };
  }

  [inspect.custom](): string {
    return `SecretFile ${this.path}`;
  }
}
