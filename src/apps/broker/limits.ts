/**
 * The broker's request limits and their defaults (the config's `limits` section; docs/broker.md).
 */

/** The broker's limits, all in bytes, milliseconds or counts. */
export interface BrokerLimits {
  /** Largest request body accepted (only `POST …/invalidate` takes one); default 8 192. */
  readonly bodyLimitBytes: number;
  /** Largest request head (request line and headers); default 16 384 (Node's own default). */
  readonly maxHeaderBytes: number;
  /** Longest a request may take, receiving it and getting the token included; default 10 000. */
  readonly requestTimeoutMs: number;
  /** Reported rejections (`POST …/invalidate`) a consumer may make per provider per window; default 6. */
  readonly invalidationsPerConsumer: number;
  /** The window of `invalidationsPerConsumer`; default 600 000 (10 minutes). */
  readonly invalidationWindowMs: number;
  /** Failed authentications a client IP may make per window before its further failures get 429 (a valid key is still served); default 20. */
  readonly failedAuthPerIp: number;
  /** The window of `failedAuthPerIp`; default 60 000. */
  readonly failedAuthWindowMs: number;
}

/** The `limits` every broker has unless its config says otherwise. */
export const DEFAULT_LIMITS: BrokerLimits = Object.freeze({
  // Room for a reported token (`POST …/invalidate`): JWTs of a few kilobytes are common.
  bodyLimitBytes: 8192,
  maxHeaderBytes: 16_384,
  requestTimeoutMs: 10_000,
  invalidationsPerConsumer: 6,
  invalidationWindowMs: 600_000,
  failedAuthPerIp: 20,
  failedAuthWindowMs: 60_000,
});
