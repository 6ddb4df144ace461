/**
 * The one formatter of zod issues, a leaf: every option, config file and request body validated with
 * zod reports its problems through it. Messages name the field and never quote a value: options and
 * config files hold secrets, and zod's default messages can echo what they received.
 */
import type { z } from 'zod';

/** One problem: the field it is in and what is wrong with it, never the value. */
export interface FieldIssue {
  /** Dotted path of the field, array indices in brackets (`clients[0].clientId`); `(options)` for the top level. */
  readonly path: string;
  /** What is wrong, without the value. */
  readonly message: string;
}

/**
 * The one issue-path format of every `ConfigError`: `prefix` and the path joined with dots, array
 * indices in brackets (`alternativePayments.clientId`, `clients[0].provider`, `encryptionKeys[0]`);
 * `top` names the top level when the path is empty.
 */
export function issuePath(path: readonly PropertyKey[], prefix = '', top = '(options)'): string {
  let text = prefix;
  for (const part of path) {
    if (typeof part === 'number') text += `[${part}]`;
    else text += text === '' ? String(part) : `.${String(part)}`;
  }
  return text === '' ? top : text;
}

/** A path in a named file or source: `broker.json: consumers[0].name`; the path alone without one. */
export function inSource(source: string | undefined, path: string): string {
  return source === undefined ? path : `${source}: ${path}`;
}

/** An issue path without its first part (the factory's name): `alternativePayments.baseUrl` → `baseUrl`. */
export function withoutFactory(path: string): string {
  const dot = path.search(/[.[]/);
  return dot < 0 ? '' : path.slice(path[dot] === '.' ? dot + 1 : dot);
}

/**
 * The one renamer of issue paths: the issues of a library `ConfigError`, named in the caller's words
 * (a config file's fields), each `rename`d and placed in `source`. Messages are kept as they are.
 */
export function renameIssues(issues: readonly FieldIssue[], rename: (path: string) => string, source?: string): FieldIssue[] {
  return issues.map((issue) => ({ path: inSource(source, rename(issue.path)), message: issue.message }));
}

/** What is wrong, rebuilt from the issue's kind alone so no received value is ever quoted. */
export function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      // zod names the received *type* (never the value) at the end of its message.
      return /received undefined$/.test(issue.message) ? 'is required' : `must be ${article(issue.expected)}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return issue.origin === 'string' ? 'must not be empty' : `must be at least ${String(issue.minimum)}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}`;
    case 'unrecognized_keys':
      return `has unknown option${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
    case 'invalid_union':
      return 'has none of the accepted forms';
    default:
      // Custom refinements: their messages are written in this code base, never with a value.
      return issue.message;
  }
}

/** Every issue as a {@link FieldIssue}, paths under `prefix`. */
export function fieldIssues(issues: readonly z.core.$ZodIssue[], prefix = ''): FieldIssue[] {
  return issues.map((issue) => ({ path: issuePath(issue.path, prefix), message: describeIssue(issue) }));
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}
