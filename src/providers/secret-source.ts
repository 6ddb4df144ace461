/**
 * Secret sources: wherever a provider takes a secret, key or certificate it may be a value, a function
 * (`() => string | Promise<string>`) or a {@link SecretFile}. A value is kept as it is today; the other
 * two get a {@link SecretReader}, which the provider asks again before each token request (through
 * `Provider.readSecrets`) and again when the token endpoint refuses the credentials.
 *
 * What a source returns is held like any secret: in a private field, never shown by `util.inspect` or
 * `JSON.stringify`, never quoted in an error. A source that fails is a {@link ConfigError} naming the
 * field (`alternativePayments.clientSecret`), never quoting what it returned or threw.
 */
import { inspect } from 'node:util';
import { z } from 'zod';
import { ConfigError } from '../base/errors.js';
import { lazySchema } from '../base/validate.js';
import { isSecretFile, readSecretFileNow, readSecretFileSync, type SecretFile } from './secret-file.js';

/** A function that returns a secret: called before each token request (and after a refusal). */
export type SecretFunction = () => string | Promise<string>;

/**
 * A secret as the providers take it: the value itself, a function that returns it (a vault client,
 * a cloud secret manager) or `secretFile(path)`, re-read when it changes.
 */
export type SecretSource = string | SecretFunction | SecretFile;

/** The options schema of a secret source: a non-empty string, a function or `secretFile(path)`. */
export const secretSourceSchema = lazySchema(() =>
  z.custom<SecretSource>().superRefine((value, ctx) => {
    if (typeof value === 'string') {
      if (value.length === 0) ctx.addIssue({ code: 'custom', message: 'must not be empty' });
    } else if (value === undefined) {
      ctx.addIssue({ code: 'custom', message: 'is required' });
    } else if (typeof value !== 'function' && !isSecretFile(value)) {
      ctx.addIssue({ code: 'custom', message: 'must be a non-empty string, a function returning one, or secretFile(path)' });
    }
  }),
);

/** Reports a problem that did not stop the read (a file that kept its last good value). */
export type SecretProblemReport = (problem: string) => void;

/**
 * A secret source that can change: its last good value, read again on request. Concurrent reads share
 * one. Problems of a file that already gave a good value are reported once per distinct problem and
 * the value is kept; anything else is a {@link ConfigError} naming the field.
 */
export class SecretReader {
  /** The option's path in messages, e.g. `oauth2.clientSecret`. */
  readonly field: string;
  readonly #source: SecretFunction | SecretFile;
  #value: string | undefined;
  #reading: Promise<boolean> | undefined;
  #reported: string | undefined;

  /** A file is read at once (its first value must be known); a function only when first asked. */
  constructor(field: string, source: SecretFunction | SecretFile) {
    this.field = field;
    this.#source = source;
    if (isSecretFile(source)) {
      const first = readSecretFileSync(source);
      if (!first.ok) throw new ConfigError([{ path: field, message: first.problem }]);
      this.#value = first.value;
    }
  }

  /** The last good value; undefined for a function not yet called. */
  get value(): string | undefined {
    return this.#value;
  }

  /** The file's path, for a file: where the secret comes from is not secret. */
  get path(): string | undefined {
    return isSecretFile(this.#source) ? this.#source.path : undefined;
  }

  /** `'file'` or `'function'`. */
  get kind(): 'file' | 'function' {
    return isSecretFile(this.#source) ? 'file' : 'function';
  }

  /**
   * Reads the source again. Resolves to whether the value changed.
   * @throws {@link ConfigError} when a function throws or returns anything but a non-empty string, or
   * when a file cannot give a first value.
   */
  read(report: SecretProblemReport): Promise<boolean> {
    this.#reading ??= this.#readOnce(report).finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  /** The value now, read afresh (for sources read on every request, like a client assertion). */
  async fresh(report: SecretProblemReport): Promise<string> {
    await this.read(report);
    return this.#value!;
  }

  async #readOnce(report: SecretProblemReport): Promise<boolean> {
    const source = this.#source;
    let value: string;
    if (isSecretFile(source)) {
      const read = await readSecretFileNow(source);
      if (!read.ok) {
        if (this.#value === undefined) throw new ConfigError([{ path: this.field, message: read.problem }]);
        if (this.#reported !== read.problem) {
          this.#reported = read.problem;
          report(`${this.field}: ${read.problem}; the last good value is kept`);
        }
        return false;
      }
      value = read.value;
    } else {
      value = await callSource(this.field, source);
    }
    this.#reported = undefined;
    const changed = value !== this.#value;
    this.#value = value;
    return changed;
  }

  /** Only the kind of source: never the value. */
  toJSON(): unknown {
    return { field: this.field, source: this.kind };
  }

  /** Only the kind of source: never the value. */
  [inspect.custom](): string {
    return `SecretReader ${inspect(this.toJSON())}`;
  }
}

/** Calls a secret function; what it throws or returns is described by type only. */
async function callSource(field: string, source: SecretFunction): Promise<string> {
  let value: unknown;
  try {
    value = await source();
  } catch (error) {
    // Only the error's class: its message could quote the secret, or a vault's answer.
    const name = error instanceof Error ? error.name : typeof error;
    throw new ConfigError([{ path: field, message: `the secret source threw (${name})` }]);
  }
  if (typeof value !== 'string') {
    const type = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
    throw new ConfigError([{ path: field, message: `the secret source returned ${type}, not a string` }]);
  }
  if (value.length === 0) throw new ConfigError([{ path: field, message: 'the secret source returned an empty string' }]);
  return value;
}

/** A source as a provider keeps it: a value as it is, anything else as a {@link SecretReader}. */
export function secretOf(field: string, source: SecretSource): string | SecretReader {
  return typeof source === 'string' ? source : new SecretReader(field, source);
}
