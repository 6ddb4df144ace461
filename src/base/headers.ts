/**
 * The response headers a token endpoint uses to say when to come back, a leaf: `Retry-After` and the
 * provider's own quota headers.
 */
import type { QuotaHint } from './token.js';

/**
 * Parses `Retry-After` (delay-seconds or an HTTP-date, RFC 9110 §10.2.3) into milliseconds from `now`.
 * Unparseable or absent → undefined; a date in the past → 0.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/**
 * Reads a provider's own quota from its headers: Auth0's `Auth0-Client-Quota-Limit`
 * (`b=per_hour;q=1000;r=999;t=3600`, `t` in seconds until reset; the tightest bucket wins) or
 * `x-ratelimit-remaining` with `x-ratelimit-reset` (a UNIX time in seconds).
 */
export function parseQuota(headers: Headers, now: number): QuotaHint | undefined {
  let tightest: QuotaHint | undefined;
  const auth0 = headers.get('auth0-client-quota-limit');
  if (auth0 !== null) {
    for (const bucket of auth0.split(',')) {
      const fields = new Map(
        bucket.split(';').map((pair) => {
          const [k, v] = pair.split('=');
          return [k?.trim() ?? '', Number(v?.trim())] as const;
        }),
      );
      const remaining = fields.get('r');
      const resetIn = fields.get('t');
      if (remaining === undefined || resetIn === undefined || !Number.isFinite(remaining) || !Number.isFinite(resetIn)) continue;
      const hint = { remaining, resetAt: now + resetIn * 1000 };
      if (tightest === undefined || hint.remaining < tightest.remaining) tightest = hint;
    }
  }
  const remaining = Number(headers.get('x-ratelimit-remaining') ?? Number.NaN);
  const reset = Number(headers.get('x-ratelimit-reset') ?? Number.NaN);
  if (Number.isFinite(remaining) && Number.isFinite(reset)) {
    const hint = { remaining, resetAt: reset * 1000 };
    if (tightest === undefined || hint.remaining < tightest.remaining) tightest = hint;
  }
  return tightest;
}
