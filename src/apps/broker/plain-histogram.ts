/**
 * A Prometheus histogram kept in plain arrays: observed on the hot path (every token answer, every
 * proxied call) and turned into prom-client's exposition format only when Prometheus scrapes.
 * By hand because prom-client's own Histogram validates and hashes the label set on every observation,
 * bound child or not (about 1.5 µs a call, which showed in both load tests' profiles).
 */
import type { Metric, Registry } from 'prom-client';

/** One label set's counts: per bucket (not cumulative; the last slot is over the highest bound), sum, count. */
interface Series {
  readonly labels: Readonly<Record<string, string>>;
  readonly buckets: number[];
  sum: number;
  count: number;
}

/** One exposition value, as prom-client's registry reads it. */
interface ExpositionValue {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly metricName: string;
}

/** A histogram with one or two labels, registered on `registry` under `name`. */
export class PlainHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  /** First label's value → second label's value (`''` with one label) → series. */
  readonly #series = new Map<string, Map<string, Series>>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly [string] | readonly [string, string],
    readonly bounds: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** Counts one observation of `seconds` for the label values `first` (and `second`, with two labels). */
  observe(seconds: number, first: string, second = ''): void {
    let bySecond = this.#series.get(first);
    if (bySecond === undefined) this.#series.set(first, (bySecond = new Map()));
    let series = bySecond.get(second);
    if (series === undefined) bySecond.set(second, (series = this.#newSeries(first, second)));
    const { bounds } = this;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    series.buckets[i]!++;
    series.sum += seconds;
    series.count++;
  }

  /** The exposition (prom-client calls this when Prometheus scrapes). */
  get(): { name: string; help: string; type: string; aggregator: string; values: ExpositionValue[] } {
    const values: ExpositionValue[] = [];
    for (const bySecond of this.#series.values()) {
      for (const { labels, buckets, sum, count } of bySecond.values()) {
        let cumulative = 0;
        this.bounds.forEach((le, i) => {
          cumulative += buckets[i]!;
          values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
        });
        values.push({ labels: { le: '+Inf', ...labels }, value: count, metricName: `${this.name}_bucket` });
        values.push({ labels, value: sum, metricName: `${this.name}_sum` });
        values.push({ labels, value: count, metricName: `${this.name}_count` });
      }
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Forgets every count (prom-client's `registry.resetMetrics()`). */
  reset(): void {
    this.#series.clear();
  }

  #newSeries(first: string, second: string): Series {
    const [firstName, secondName] = this.labelNames;
    const labels = secondName === undefined ? { [firstName]: first } : { [firstName]: first, [secondName]: second };
    return { labels, buckets: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 };
  }
}
