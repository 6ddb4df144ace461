/**
 * The token endpoint's metadata as every credential of one server shares it: fixed for a `tokenUrl`,
 * or discovered from an `issuer` and kept, then fetched again when it is older than
 * `metadataMaxAgeMs`, or after a failed token request — which the manager's cool-down and issuance
 * guard pace, so discovery is never hammered.
 *
 * Only the keeping is here, made when `oauth2()` is constructed; the fetching is discovery.ts, which
 * the request brings in.
 */
import type { ServerMetadata } from 'openid-client';

/** Fetches an issuer's metadata (discovery.ts). */
export type Discover = (issuer: string) => Promise<ServerMetadata>;

/** The metadata source of one server. */
export interface MetadataSource {
  /** The metadata to use for the next request (`discover` is called when it is missing, stale or too old). */
  current(discover: Discover): Promise<ServerMetadata>;
  /** After a failed token request: fetch again next time. */
  markStale(): void;
}

/** The metadata of a fixed token endpoint: nothing to fetch. */
export function fixedMetadata(tokenUrl: string): MetadataSource {
  const metadata: ServerMetadata = Object.freeze({ issuer: new URL(tokenUrl).origin, token_endpoint: tokenUrl });
  const ready = Promise.resolve(metadata);
  return { current: () => ready, markStale() {} };
}

/**
 * Discovered metadata, shared by every credential of the issuer. One discovery at a time: callers
 * that arrive while it runs share it (and its outcome — if the request that started it is aborted,
 * they fail too, and their manager retries as for any failed request).
 */
export function discoveredMetadata(issuer: string, maxAgeMs: number): MetadataSource {
  let pending: Promise<ServerMetadata> | undefined;
  let fetchedAt = 0;
  return {
    current(discover) {
      if (pending !== undefined && Date.now() - fetchedAt < maxAgeMs) return pending;
      const attempt = discover(issuer);
      pending = attempt;
      fetchedAt = Date.now();
      attempt.catch(() => {
        if (pending === attempt) pending = undefined;
      });
      return attempt;
    },
    markStale() {
      pending = undefined;
    },
  };
}
