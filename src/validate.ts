/**
 * Option validation: zod schemas in, one {@link ConfigError} listing every problem out. Messages name
 * the field and never quote a value (it may be a secret).
 */
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from './errors.js';
import { urlIssue } from './http.js';

/**
 * Parses `input` with `schema`; on failure throws one ConfigError with every issue, each path prefixed
 * with `prefix` (e.g. `alternativePayments`).
 */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, prefix: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((issue) => toConfigIssue(issue, prefix)));
}

function toConfigIssue(issue: z.core.$ZodIssue, prefix: string): ConfigIssue {
  const path = [prefix, ...issue.path.map(String)].filter((part) => part !== '').join('.');
  return { path: path === '' ? '(options)' : path, message: describe(issue) };
}

// zod's default messages can quote the received value ("Invalid option: expected one of … received 'x'");
// options hold secrets, so the message is rebuilt from the issue's kind alone.
function describe(issue: z.core.$ZodIssue): string {
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
      return issue.message;
  }
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** A non-empty string: client ids and secrets. */
export const nonEmptyString = z.string().min(1);

/** A URL that passes the https/loopback policy of `urlIssue`. */
export const secureUrl = z.string().superRefine((value, ctx) => {
  const problem = urlIssue(value, '');
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem.message });
});

/** Any function: loggers' methods, callbacks. */
export const functionSchema = z.custom<(...args: unknown[]) => unknown>((value) => typeof value === 'function', 'must be a function');

/** A duration in milliseconds: a finite, non-negative integer. */
export const durationMs = z.number().int().nonnegative().finite();
