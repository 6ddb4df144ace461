/**
 * The broker's Prometheus metrics, on a Registry of its own (prom-client).
 *
 * Nothing is counted on the hot path through prom-client: request counts live in a plain nested map,
 * and the token manager's counters are read from `tokens.stats()`, both copied into the metrics when
 * Prometheus scrapes. Only upstream fetches (rare) observe the latency histogram directly.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TokenManager } from '../../core/manager.js';
import { EVENT_COUNTER_TABLE, ISSUE_REASONS, TOKENS_ISSUED_COUNTER, type CounterSpec, type ProviderStats } from '../../base/stats.js';
import { onUpstreamFetch } from '../../core/telemetry.js';
import { PlainHistogram } from './plain-histogram.js';

/** The broker's metrics. */
export class BrokerMetrics {
  readonly registry = new Registry();
  readonly #requests = new Map<string, Map<number, number>>();
  /** consumer → provider → outcome → count. */
  readonly #byConsumer = new Map<string, Map<string, Map<string, number>>>();
  /** consumer → provider → result → count. */
  readonly #invalidations = new Map<string, Map<string, Map<string, number>>>();
  readonly #latency: PlainHistogram;
  readonly #unsubscribe: () => void;

  /** `storeReachable` is asked at scrape time, for `tokenbroker_store_up`. */
  constructor(tokens: TokenManager, storeReachable: () => Promise<boolean>) {
    const registers = [this.registry];
    const requests = this.#requests;
    collectDefaultMetrics({ register: this.registry, prefix: 'tokenbroker_' });

    new Counter({
      name: 'tokenbroker_http_requests_total',
      help: 'HTTP requests answered by the broker, by route and status',
      labelNames: ['route', 'status'],
      registers,
      collect() {
        this.reset();
        for (const [route, byStatus] of requests) {
          for (const [status, count] of byStatus) this.inc({ route, status: String(status) }, count);
        }
      },
    });

    const nested = (name: string, help: string, third: string, source: Map<string, Map<string, Map<string, number>>>) =>
      new Counter({
        name,
        help,
        labelNames: ['consumer', 'provider', third],
        registers,
        collect() {
          this.reset();
          for (const [consumer, byProvider] of source) {
            for (const [provider, counts] of byProvider) {
              for (const [value, count] of counts) this.inc({ consumer, provider, [third]: value }, count);
            }
          }
        },
      });
    nested(
      'tokenbroker_consumer_requests_total',
      'Token requests answered, by consumer, provider and outcome (issued, invalidated or the error code)',
      'outcome',
      this.#byConsumer,
    );
    nested(
      'tokenbroker_invalidations_total',
      'Reported rejections (POST …/invalidate), by consumer, provider and result (dropped, already_replaced, limited)',
      'result',
      this.#invalidations,
    );
    this.#latency = new PlainHistogram(
      'tokenbroker_consumer_request_duration_seconds',
      'Time to answer a token request, by consumer and provider',
      ['consumer', 'provider'],
      LATENCY_BUCKETS,
      this.registry,
    );
    new Gauge({
      name: 'tokenbroker_store_up',
      help: '1 while the shared store answers (always 1 for memory); 0 while tokens are served from this process only',
      registers,
      async collect() {
        this.set((await storeReachable()) ? 1 : 0);
      },
    });

    // Every counter of the library's one table, named `tokenbroker_<name>_total`, read at scrape time.
    type Read = (counter: Counter, provider: string, stats: ProviderStats) => void;
    const fromStats = ({ name, description }: CounterSpec, labelNames: string[], read: Read) =>
      new Counter({
        name: `tokenbroker_${name.replaceAll('.', '_')}_total`,
        help: description,
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const [provider, stats] of Object.entries(tokens.stats().byProvider)) read(this, provider, stats);
        },
      });
    for (const spec of EVENT_COUNTER_TABLE)
      fromStats(spec, ['provider'], (counter, provider, stats) => counter.inc({ provider }, stats[spec.stat] * ((spec as CounterSpec).scale ?? 1)));
    fromStats(TOKENS_ISSUED_COUNTER, ['provider', 'reason'], (counter, provider, stats) => {
      for (const reason of ISSUE_REASONS) counter.inc({ provider, reason }, stats.tokensIssued[reason]);
    });

    const latency = new Histogram({
      name: 'tokenbroker_upstream_token_request_duration_seconds',
      help: 'Duration of one upstream token fetch (retries and backoff included), by provider and outcome',
      labelNames: ['provider', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#unsubscribe = onUpstreamFetch(tokens, (fetch) => {
      latency.observe({ provider: fetch.provider, outcome: fetch.outcome }, fetch.durationMs / 1000);
    });
  }

  /** Counts one answered request. `route` is the route pattern (bounded), never the raw URL. */
  request(route: string, status: number): void {
    let byStatus = this.#requests.get(route);
    if (byStatus === undefined) this.#requests.set(route, (byStatus = new Map()));
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  }

  /** Counts one answered token request of an authenticated consumer. */
  consumerRequest(consumer: string, provider: string, outcome: string, seconds: number): void {
    increment(this.#byConsumer, consumer, provider, outcome);
    this.#latency.observe(seconds, consumer, provider);
  }

  /** Counts one reported rejection. */
  invalidation(consumer: string, provider: string, result: 'dropped' | 'already_replaced' | 'limited'): void {
    increment(this.#invalidations, consumer, provider, result);
  }

  /** The Prometheus text exposition. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  close(): void {
    this.#unsubscribe();
    this.registry.clear();
  }
}

function increment(map: Map<string, Map<string, Map<string, number>>>, a: string, b: string, c: string): void {
  let byB = map.get(a);
  if (byB === undefined) map.set(a, (byB = new Map()));
  let byC = byB.get(b);
  if (byC === undefined) byB.set(b, (byC = new Map()));
  byC.set(c, (byC.get(c) ?? 0) + 1);
}

/** Token answers take from about 0.1 ms (a warm hit) to seconds (a fetch from the provider). */
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5, 10];
