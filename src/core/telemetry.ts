/**
 * Telemetry of the token manager: listeners of upstream fetches (the broker's own metrics) and, when the
 * application has `@opentelemetry/api` installed, spans and metrics through it (otel.ts). The API is an
 * optional peer dependency: it is loaded when the first manager is created, never by `import
 * 'tokenbroker'`; when it is absent nothing is loaded, nothing is recorded and nothing fails.
 */
import { TokenError, type TokenErrorCode } from '../base/errors.js';
import type * as Otel from './otel.js';
import type { Counters, IssueReason, ManagerStats } from '../base/stats.js';

/** How one upstream fetch ended: `issued`, or the code of the error it ended with. */
export type FetchOutcome = 'issued' | TokenErrorCode | 'error';

/** One upstream token fetch, as reported to {@link onUpstreamFetch} listeners. */
export interface UpstreamFetch {
  /** The id the provider is registered under. */
  readonly provider: string;
  /** The provider's kind (`alternative-payments`, `autopay`, `oauth2`, …). */
  readonly kind: string;
  readonly reason: IssueReason;
  /** HTTP requests sent, retries included. */
  readonly attempts: number;
  readonly outcome: FetchOutcome;
  /** Wall time of the whole fetch, retries and backoff included. */
  readonly durationMs: number;
}

type FetchListener = (fetch: UpstreamFetch) => void;

const listeners = new WeakMap<object, Set<FetchListener>>();

/** The OpenTelemetry binding once loaded; `null` when `@opentelemetry/api` is not installed. */
let otel: typeof Otel | null | undefined;
let loading: Promise<void> | undefined;
// Managers created before the binding finished loading; weakly held.
const waiting = new Set<WeakRef<{ stats(): ManagerStats }>>();

function loadOpenTelemetry(): Promise<void> {
  loading ??= import('./otel.js').then(
    (binding) => {
      otel = binding;
      for (const ref of waiting) {
        const manager = ref.deref();
        if (manager !== undefined) binding.observe(manager);
      }
      waiting.clear();
    },
    () => {
      // `@opentelemetry/api` is not installed: telemetry stays off.
      otel = null;
      waiting.clear();
    },
  );
  return loading;
}

/** Makes a manager's counters observable once OpenTelemetry is loaded. Called by the manager's constructor. */
export function observeManager(manager: { stats(): ManagerStats }): void {
  if (otel === null) return;
  if (otel !== undefined) {
    otel.observe(manager);
    return;
  }
  waiting.add(new WeakRef(manager));
  void loadOpenTelemetry();
}

/**
 * Runs one upstream fetch (`fetch`, retries included), inside a `tokenbroker.fetch_token` span when
 * OpenTelemetry is there, and tells the owner's listeners how it went. Called around each fetch.
 */
export async function traceTokenFetch<T>(
  owner: object,
  provider: string,
  kind: string,
  reason: IssueReason,
  stats: Pick<Counters, 'requestsSent'>,
  fetch: () => Promise<T>,
): Promise<T> {
  if (otel === undefined) await loadOpenTelemetry();
  const span = otel?.startFetch(provider, kind, reason);
  // One fetch per credential at a time (single-flight), so the difference is this fetch's own attempts.
  const sentBefore = stats.requestsSent;
  const started = performance.now();
  let outcome: FetchOutcome = 'issued';
  try {
    return await (span === undefined ? fetch() : span.run(fetch));
  } catch (error) {
    outcome = error instanceof TokenError ? error.code : 'error';
    throw error;
  } finally {
    const durationMs = performance.now() - started;
    const attempts = stats.requestsSent - sentBefore;
    span?.end(outcome, attempts, durationMs);
    notify(owner, { provider, kind, reason, attempts, outcome, durationMs });
  }
}

/**
 * Calls `listener` after every upstream fetch made by `owner` (a token manager). For servers that
 * export their own metrics (the broker's Prometheus histogram). Returns the function that unsubscribes.
 */
export function onUpstreamFetch(owner: object, listener: FetchListener): () => void {
  let set = listeners.get(owner);
  if (set === undefined) listeners.set(owner, (set = new Set()));
  set.add(listener);
  return () => {
    set.delete(listener);
  };
}

function notify(owner: object, fetch: UpstreamFetch): void {
  const set = listeners.get(owner);
  if (set === undefined) return;
  for (const listener of set) {
    try {
      listener(fetch);
    } catch {
      // A broken listener must not break token delivery.
    }
  }
}
