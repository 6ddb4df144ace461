/**
 * The OpenTelemetry binding, loaded by telemetry.ts only when `@opentelemetry/api` is installed (it is
 * an optional peer dependency, as OpenTelemetry advises for libraries). Without an SDK registered by the
 * application every call here is a no-op, and nothing here runs on the warm hit path.
 *
 * - Counters (every one of `EVENT_COUNTER_TABLE`, and tokens issued by reason) are *observable*: they
 *   are read from `tokens.stats()` when the SDK collects, so `getToken` does no extra work.
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
import {
  addSnapshot,
  Counters,
  EVENT_COUNTER_TABLE,
  ISSUE_REASONS,
  TOKENS_ISSUED_COUNTER,
  type CounterSpec,
  type EventCounter,
  type ManagerStats,
  type ProviderStats,
} from '../base/stats.js';

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

/** Anything with the manager's counters. */
interface StatsSource {
  stats(): ManagerStats;
}

/** One fetch's span and histogram point, ended with its outcome. */
export interface FetchSpan {
  /** Runs `fetch` with this span active. */
  run<T>(fetch: () => Promise<T>): Promise<T>;
  /** Ends the span and records the duration. `outcome` is `issued` or an error code, never a message. */
  end(outcome: string, attempts: number, durationMs: number): void;
}

// Managers that exist; weakly held so telemetry never keeps one alive. A collected manager's reference
// leaves the set when the registry hears of it: pruning only at metric collection would keep one per
// manager ever made in a process with no metrics SDK, which never collects.
const sources = new Set<WeakRef<StatsSource>>();
const forgotten = new FinalizationRegistry<WeakRef<StatsSource>>((ref) => sources.delete(ref));
const tracked = new WeakSet<StatsSource>();

interface Instruments {
  readonly provider: MeterProvider;
  readonly meter: Meter;
  readonly latency: Histogram;
  readonly observables: Observable[];
  readonly callback: BatchObservableCallback;
}

let instruments: Instruments | undefined;

/** Adds a manager to the observable counters (weakly held), so a process that only adopts tokens still reports its hits. */
export function observe(manager: StatsSource): void {
  if (!tracked.has(manager)) {
    tracked.add(manager);
    const ref = new WeakRef(manager);
    sources.add(ref);
    forgotten.register(manager, ref);
  }
  currentInstruments();
}

/** How many managers are observed now (the set shrinks as they are collected). */
export function observedManagers(): number {
  return sources.size;
}

/** Starts the span of one upstream fetch. */
export function startFetch(provider: string, kind: string, reason: string): FetchSpan {
  const { latency } = currentInstruments();
  const span = trace.getTracer(INSTRUMENTATION_NAME).startSpan('tokenbroker.fetch_token', {
    kind: SpanKind.INTERNAL,
    attributes: { [ATTRIBUTES.providerId]: provider, [ATTRIBUTES.providerKind]: kind, [ATTRIBUTES.reason]: reason },
  });
  return {
    run: (fetch) => context.with(trace.setSpan(context.active(), span), fetch),
    end(outcome, attempts, durationMs) {
      // The code only: messages may quote (scrubbed) provider output, which has no place in a trace.
      if (outcome !== 'issued') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
      span.setAttributes({ [ATTRIBUTES.attempts]: attempts, [ATTRIBUTES.outcome]: outcome });
      span.end();
      latency.record(durationMs / 1000, { [ATTRIBUTES.providerId]: provider, [ATTRIBUTES.providerKind]: kind, [ATTRIBUTES.outcome]: outcome });
    },
  };
}

/** The instruments of the global MeterProvider in place now (created on first use, and again if it changes). */
function currentInstruments(): Instruments {
  const provider = metrics.getMeterProvider();
  if (instruments?.provider === provider) return instruments;
  if (instruments !== undefined) instruments.meter.removeBatchObservableCallback(instruments.callback, instruments.observables);
  const meter = provider.getMeter(INSTRUMENTATION_NAME);
  const counter = ({ name, description, unit }: CounterSpec) => meter.createObservableCounter(`${INSTRUMENTATION_NAME}.${name}`, { description, unit });
  const events = EVENT_COUNTER_TABLE.map((spec) => [spec as CounterSpec<EventCounter>, counter(spec)] as const);
  const issued = counter(TOKENS_ISSUED_COUNTER);
  const observables: Observable[] = [...events.map(([, observable]) => observable), issued];
  const callback: BatchObservableCallback = (result) => {
    for (const [provider, s] of statsByProvider()) {
      const attributes = { [ATTRIBUTES.providerId]: provider };
      for (const [spec, observable] of events) result.observe(observable, s[spec.stat] * (spec.scale ?? 1), attributes);
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
function statsByProvider(): Map<string, ProviderStats> {
  const byProvider = new Map<string, ProviderStats>();
  for (const ref of sources) {
    const source = ref.deref();
    if (source === undefined) {
      sources.delete(ref);
      continue;
    }
    for (const [id, stats] of Object.entries(source.stats().byProvider)) {
      let sum = byProvider.get(id);
      if (sum === undefined) byProvider.set(id, (sum = new Counters().snapshot()));
      addSnapshot(sum, stats);
    }
  }
  return byProvider;
}
