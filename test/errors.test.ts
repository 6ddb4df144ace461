/**
 * The error rules, pinned: every error class tokenbroker exports is a TokenError with one code, and
 * docs/errors.md lists each class with that code; nothing in src/ assigns to an error's message.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tokenbroker from '../src/index.js';
import { TokenError, type TokenErrorCode } from '../src/index.js';

const root = new URL('..', import.meta.url).pathname;

/** One instance of each exported error class, built as its thrower builds it. */
const samples: Record<string, TokenError> = {
  InvalidCredentialsError: new tokenbroker.InvalidCredentialsError('refused'),
  RateLimitedError: new tokenbroker.RateLimitedError('slow down'),
  ProviderUnavailableError: new tokenbroker.ProviderUnavailableError('down'),
  InvalidTokenResponseError: new tokenbroker.InvalidTokenResponseError('odd'),
  IssuanceLimitError: new tokenbroker.IssuanceLimitError('spent', { retryAfterMs: 1 }),
  ConfigError: new tokenbroker.ConfigError([{ path: 'skewMs', message: 'must be a number' }]),
  UnknownProviderError: new tokenbroker.UnknownProviderError('nope'),
  ManagerClosedError: new tokenbroker.ManagerClosedError(),
  ForeignOriginError: new tokenbroker.ForeignOriginError('https://a.example', 'https://b.example'),
  DPoPRequiredError: new tokenbroker.DPoPRequiredError({ provider: 'bank' }),
};

/** `class → code` from the table of docs/errors.md (rows of the form | `Class` | `code` | …). */
function documentedCodes(): Map<string, string> {
  const table = new Map<string, string>();
  for (const match of readFileSync(join(root, 'docs/errors.md'), 'utf8').matchAll(/^\| `(\w+Error)` \| `(\w+)` \|/gm)) {
    table.set(match[1]!, match[2]!);
  }
  return table;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

describe('error rules', () => {
  it('every exported error class has a sample here (a new class must be added to the table and to this test)', () => {
    const exported = Object.entries(tokenbroker)
      .filter(([, value]) => typeof value === 'function' && value.prototype instanceof TokenError)
      .map(([name]) => name);
    expect(exported.sort()).toEqual(Object.keys(samples).sort());
  });

  it('each class is a TokenError with its own code, and docs/errors.md lists exactly those classes with those codes', () => {
    const codes = new Map<string, TokenErrorCode>();
    for (const [name, error] of Object.entries(samples)) {
      expect(error).toBeInstanceOf(TokenError);
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe(name);
      codes.set(name, error.code);
    }
    expect(new Set(codes.values()).size).toBe(codes.size); // one code per class
    expect(Object.fromEntries(documentedCodes())).toEqual(Object.fromEntries(codes));
  });

  it('ConfigError is for configuration: the run-time misuses are not ConfigErrors', () => {
    for (const name of ['UnknownProviderError', 'ManagerClosedError', 'ForeignOriginError', 'DPoPRequiredError']) {
      expect(samples[name]).not.toBeInstanceOf(tokenbroker.ConfigError);
    }
  });

  it('nothing in src/ assigns to an error message (errors are never mutated; throw a new one instead)', () => {
    const offenders: string[] = [];
    for (const file of sourceFiles(join(root, 'src'))) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/\.message\s*(\+|\?\?)?=(?!=)/.test(line)) offenders.push(`${file.slice(root.length)}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(offenders).toEqual([]);
  });
});
