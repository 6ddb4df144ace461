/**
 * Option validation: zod schemas in, one {@link ConfigError} listing every problem out. Messages name
 * the field and never quote a value (it may be a secret).
 */
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { urlIssue } from './url-policy.js';
import { fieldIssues } from './zod-issues.js';

/**
 * Parses `input` with `schema`; on failure throws one ConfigError with every issue, each path prefixed
 * with `prefix` (e.g. `alternativePayments`).
 */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, prefix: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ConfigError(fieldIssues(result.error.issues, prefix));
}

/**
 * A schema made on its first use, then kept. Making a zod schema runs zod's setup for every part of it,
 * milliseconds for an options schema: made at a module's top level, that is paid by every
 * `import('tokenbroker')`, also by apps that never call what validates with it.
 */
export function lazySchema<S extends z.ZodType>(make: () => S): () => S {
  let schema: S | undefined;
  return () => (schema ??= make());
}

/** A non-empty string: client ids and secrets. */
export const nonEmptyString = lazySchema(() => z.string().min(1));

/** A URL that passes the https/loopback policy of `urlIssue`. */
export const secureUrl = lazySchema(() =>
  z.string().superRefine((value, ctx) => {
    const problem = urlIssue(value, '');
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem.message });
  }),
);

/** Any function: loggers' methods, callbacks. */
export const functionSchema = lazySchema(() => z.custom<(...args: unknown[]) => unknown>((value) => typeof value === 'function', 'must be a function'));

/** A duration in milliseconds: a finite, non-negative integer. */
export const durationMs = lazySchema(() => z.number().int().nonnegative().finite());
