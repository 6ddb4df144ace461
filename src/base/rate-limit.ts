/**
 * The `rateLimit` option every provider takes: at most `requests` API calls in any `perMs` window, per
 * credential (docs/rate-limits.md). A leaf: the providers validate it, the stores keep the budget.
 */
import { z } from 'zod';
import { lazySchema } from './validate.js';

/** At most `requests` API calls in any `perMs` window (sliding), per credential. */
export interface RateLimit {
  /** Calls allowed within the window: an integer from 1 to 1 000 000. */
  readonly requests: number;
  /** The window in ms: an integer from 1 to 86 400 000 (a day). */
  readonly perMs: number;
}

/** `{ requests, perMs }` or `false`, as the providers' `rateLimit` option takes it. */
export const rateLimitSchema = lazySchema(() =>
  z.union([z.literal(false), z.strictObject({ requests: z.number().int().min(1).max(1_000_000), perMs: z.number().int().min(1).max(86_400_000) })], {
    error: 'must be false or { requests, perMs } with integers: requests 1 to 1000000, perMs 1 to 86400000',
  }),
);

/** The option as a provider keeps it: `false` and absent both mean no pacing. */
export function resolvedRateLimit(option: RateLimit | false | undefined, fallback: RateLimit | undefined): RateLimit | undefined {
  if (option === false) return undefined;
  const limit = option ?? fallback;
  return limit === undefined ? undefined : Object.freeze({ requests: limit.requests, perMs: limit.perMs });
}
