/**
 * OpenTelemetry for the token manager, through `@opentelemetry/api` only: without an SDK installed by
 * the application every call here is a no-op, and nothing here runs on the warm hit path.
 *
 * - Counters (hits, misses, requests sent, tokens issued by reason, guard refusals, …) are *observable*:
 *   they are read from `tokens.stats()` when the SDK collects, so `getToken` does no extra work.
 * - Each upstream fetch (one token, retries included) gets a span `tokenbroker.fetch_token` and a
 *   point in the `tokenbroker.upstream.duration` histogram.
 *
 * Install the SDK's MeterProvider before the first token fetch (the usual OpenTelemetry advice): the
 * metrics API has no proxy, so instruments are bound to the provider in place when they are created,
 * and re-created when a different global provider appears.
 */
import {
  context,
  metrics,
  SpanKind,
  SpanStatusCode,
  trace,
  type BatchObservableCallback,
  type Histogram,
  type Meter,
  type MeterProvider,
  type Observable,
} from '@opentelemetry/api';
import { TokenError, type TokenErrorCode } from './errors.js';
import { addStats, emptyStats, ISSUE_REASONS, type Counters, type IssueReason, type ManagerStats } from './stats.js';

/** The name of tokenbroker's tracer and meter. */
export const INSTRUMENTATION_NAME = 'tokenbroker';

/** Attribute names on spans and metrics. */
export const ATTRIBUTES = {
  providerId: 'tokenbroker.provider.id',
  providerKind: 'tokenbroker.provider.kind',
  reason: 'tokenbroker.reason',
  attempts: 'tokenbroker.attempts',
  outcome: 'tokenbroker.outcome',
} as const;

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

/** Anything with the manager's counters. */
interface StatsSource {
  stats(): ManagerStats;
}

type FetchListener = (fetch: UpstreamFetch) => void;

// Managers that fetched at least once; weakly held so telemetry never keeps one alive.
const sources = new Set<WeakRef<StatsSource>>();
const tracked = new WeakSet<StatsSource>();
const listeners = new WeakMap<object, Set<FetchListener>>();

interface Instruments {
  readonly provider: MeterProvider;
  readonly meter: Meter;
  readonly latency: Histogram;
  readonly observables: Observable[];
  readonly callback: BatchObservableCallback;
}

let instruments: Instruments | undefined;

/**
 * Runs one upstream fetch (`fetch`, retries included) inside a `tokenbroker.fetch_token` span, records
 * its duration, and tells the owner's listeners. Called by the manager around each fetch.
 */
export async function traceTokenFetch<T>(
  owner: object,
  provider: string,
  kind: string,
  reason: IssueReason,
  stats: Pick<Counters, 'requestsSent'>,
  fetch: () => Promise<T>,
): Promise<T> {
  const { latency } = currentInstruments();
  const span = trace.getTracer(INSTRUMENTATION_NAME).startSpan('tokenbroker.fetch_token', {
    kind: SpanKind.INTERNAL,
    attributes: { [ATTRIBUTES.providerId]: provider, [ATTRIBUTES.providerKind]: kind, [ATTRIBUTES.reason]: reason },
  });
  // One fetch per credential at a time (single-flight), so the difference is this fetch's own attempts.
  const sentBefore = stats.requestsSent;
  const started = performance.now();
  let outcome: FetchOutcome = 'issued';
  try {
    return await context.with(trace.setSpan(context.active(), span), fetch);
  } catch (error) {
    // The code only: messages may quote (scrubbed) provider output, which has no place in a trace.
    outcome = error instanceof TokenError ? error.code : 'error';
    span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
    throw error;
  } finally {
    const durationMs = performance.now() - started;
    const attempts = stats.requestsSent - sentBefore;
    span.setAttributes({ [ATTRIBUTES.attempts]: attempts, [ATTRIBUTES.outcome]: outcome });
    span.end();
    latency.record(durationMs / 1000, { [ATTRIBUTES.providerId]: provider, [ATTRIBUTES.providerKind]: kind, [ATTRIBUTES.outcome]: outcome });
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

/**
 * Adds a manager to the observable counters (weakly held). Called by the manager's constructor, so a
 * process that only ever adopts tokens from a shared store still reports its hits.
 */
export function observeManager(manager: StatsSource): void {
  if (!tracked.has(manager)) {
    tracked.add(manager);
    sources.add(new WeakRef(manager));
  }
  currentInstruments();
}

/** The instruments of the global MeterProvider in place now (created on first use, and again if it changes). */
function currentInstruments(): Instruments {
  const provider = metrics.getMeterProvider();
  if (instruments?.provider === provider) return instruments;
  if (instruments !== undefined) instruments.meter.removeBatchObservableCallback(instruments.callback, instruments.observables);
  const meter = provider.getMeter(INSTRUMENTATION_NAME);
  const counter = (name: string, description: string) => meter.createObservableCounter(name, { description, unit: '{' + name.split('.').pop() + '}' });
  const hits = counter('tokenbroker.cache.hits', 'getToken calls answered from the cache');
  const misses = counter('tokenbroker.cache.misses', 'getToken calls that found no usable token');
  const deduplicated = counter('tokenbroker.deduplicated', 'callers that joined a token fetch already under way');
  const requests = counter('tokenbroker.upstream.requests', 'HTTP token requests sent, retries included');
  const failures = counter('tokenbroker.upstream.failures', 'token fetches that failed after retries');
  const refusals = counter('tokenbroker.guard.refusals', 'token fetches the issuance guard refused (no request sent)');
  const issued = counter('tokenbroker.tokens.issued', 'new tokens received, by reason');
  const observables: Observable[] = [hits, misses, deduplicated, requests, failures, refusals, issued];
  const callback: BatchObservableCallback = (result) => {
    for (const [provider, s] of statsByProvider()) {
      const attributes = { [ATTRIBUTES.providerId]: provider };
      result.observe(hits, s.hits, attributes);
      result.observe(misses, s.misses, attributes);
      result.observe(deduplicated, s.deduplicated, attributes);
      result.observe(requests, s.requestsSent, attributes);
      result.observe(failures, s.failures, attributes);
      result.observe(refusals, s.guardRefusals, attributes);
      for (const reason of ISSUE_REASONS) {
        result.observe(issued, s.tokensIssued[reason], { ...attributes, [ATTRIBUTES.reason]: reason });
      }
    }
  };
  meter.addBatchObservableCallback(callback, observables);
  const latency = meter.createHistogram('tokenbroker.upstream.duration', {
    description: 'duration of one upstream token fetch, retries and backoff included',
    unit: 's',
    advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] },
  });
  instruments = { provider, meter, latency, observables, callback };
  return instruments;
}

/** Counters summed per provider id over every live manager (collection time only). */
function statsByProvider(): Map<string, Counters> {
  const byProvider = new Map<string, Counters>();
  for (const ref of sources) {
    const source = ref.deref();
    if (source === undefined) {
      sources.delete(ref);
      continue;
    }
    for (const [id, stats] of Object.entries(source.stats().byProvider)) {
      let sum = byProvider.get(id);
      if (sum === undefined) byProvider.set(id, (sum = emptyStats()));
      addStats(sum, stats);
    }
  }
  return byProvider;
}
