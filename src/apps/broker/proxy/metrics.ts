/**
 * The proxy's Prometheus metrics, on the broker's registry. Counts live in plain maps and are copied
 * into the counters when Prometheus scrapes (as the broker's own request counts are); the upstream latency
 * histogram is a plain one (plain-histogram.ts).
 */
import { Counter, type Registry } from 'prom-client';
import { PlainHistogram } from '../plain-histogram.js';

/** Refusal reasons: the broker error code a proxied call was answered with before (or instead of) going upstream. */
export type RefusalReason = string;

/** The proxy's metrics. */
export class ProxyMetrics {
  /** provider → consumer → status class (`2xx`…) → count. */
  readonly #requests = new Map<string, Map<string, Map<string, number>>>();
  /** provider → outcome (`replayed`, `not_replayable`) → count. */
  readonly #replays = new Map<string, Map<string, number>>();
  /** reason → count. */
  readonly #refusals = new Map<string, number>();
  readonly #latency: PlainHistogram;

  constructor(registry: Registry) {
    const registers = [registry];
    const requests = this.#requests;
    const replays = this.#replays;
    const refusals = this.#refusals;
    new Counter({
      name: 'tokenbroker_proxy_requests_total',
      help: 'Proxied calls answered, by provider, consumer and status class of the answer (2xx, 4xx, …)',
      labelNames: ['provider', 'consumer', 'status_class'],
      registers,
      collect() {
        this.reset();
        for (const [provider, byConsumer] of requests) {
          for (const [consumer, byClass] of byConsumer)
            for (const [statusClass, count] of byClass) this.inc({ provider, consumer, status_class: statusClass }, count);
        }
      },
    });
    new Counter({
      name: 'tokenbroker_proxy_replays_total',
      help: 'Upstream 401s on proxied calls, by provider and outcome: replayed once with a fresh token, or not_replayable (streamed body)',
      labelNames: ['provider', 'outcome'],
      registers,
      collect() {
        this.reset();
        for (const [provider, byOutcome] of replays) for (const [outcome, count] of byOutcome) this.inc({ provider, outcome }, count);
      },
    });
    new Counter({
      name: 'tokenbroker_proxy_refusals_total',
      help: 'Proxied calls the broker answered itself, by reason (its error code): not sent upstream, or cut off',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, count] of refusals) this.inc({ reason }, count);
      },
    });
    this.#latency = new PlainHistogram(
      'tokenbroker_proxy_upstream_duration_seconds',
      'Time from sending a proxied call upstream to its response headers, by provider',
      ['provider'],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registry,
    );
  }

  /** Counts one answered proxied call (`provider`/`consumer` may be `-` when admission refused it first). */
  answered(provider: string, consumer: string, status: number): void {
    let byConsumer = this.#requests.get(provider);
    if (byConsumer === undefined) this.#requests.set(provider, (byConsumer = new Map()));
    let byClass = byConsumer.get(consumer);
    if (byClass === undefined) byConsumer.set(consumer, (byClass = new Map()));
    const statusClass = STATUS_CLASSES[Math.floor(status / 100)] ?? 'other';
    byClass.set(statusClass, (byClass.get(statusClass) ?? 0) + 1);
  }

  /** Observes one upstream round trip (to response headers). */
  upstream(provider: string, seconds: number): void {
    this.#latency.observe(seconds, provider);
  }

  /** Counts one upstream 401. */
  replay(provider: string, outcome: 'replayed' | 'not_replayable'): void {
    let byOutcome = this.#replays.get(provider);
    if (byOutcome === undefined) this.#replays.set(provider, (byOutcome = new Map()));
    byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1);
  }

  /** Counts one call the broker answered itself. */
  refusal(reason: RefusalReason): void {
    this.#refusals.set(reason, (this.#refusals.get(reason) ?? 0) + 1);
  }
}

const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];
