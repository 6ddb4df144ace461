/**
 * One table of counters (EVENT_COUNTER_TABLE and TOKENS_ISSUED_COUNTER in src/base/stats.ts) feeds all
 * three sinks: `tokens.stats()`, the OpenTelemetry binding and the broker's Prometheus metrics. Each
 * sink is read here as a user sees it, and must report every counter of the table: a sink that omits
 * one (as OpenTelemetry and Prometheus once omitted `cooledDown`) fails this test.
 */
import { metrics, type BatchObservableCallback, type Meter, type MeterProvider, type Observable } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerMetrics } from '../src/apps/broker/metrics.js';
import { createTokenManager, type TokenManager } from '../src/core/manager.js';
import { EVENT_COUNTER_TABLE, TOKENS_ISSUED_COUNTER } from '../src/base/stats.js';
import { fakeProvider } from './helpers/fake-provider.js';

const TABLE = [...EVENT_COUNTER_TABLE, TOKENS_ISSUED_COUNTER];

/** A MeterProvider that records the observable counters created and what a collection observes. */
class RecordingMeter implements MeterProvider {
  readonly counters = new Map<string, { description: string | undefined; unit: string | undefined }>();
  readonly callbacks: BatchObservableCallback[] = [];
  getMeter(): Meter {
    const meter = {
      createObservableCounter: (name: string, options?: { description?: string; unit?: string }) => {
        this.counters.set(name, { description: options?.description, unit: options?.unit });
        return { name };
      },
      createHistogram: () => ({ record: () => {} }),
      addBatchObservableCallback: (callback: BatchObservableCallback) => this.callbacks.push(callback),
      removeBatchObservableCallback: () => {},
    };
    return meter as unknown as Meter;
  }
  async observed(): Promise<Set<string>> {
    const names = new Set<string>();
    for (const callback of this.callbacks) {
      await callback({ observe: (observable: Observable) => names.add((observable as unknown as { name: string }).name) });
    }
    return names;
  }
}

const meter = new RecordingMeter();
let tokens: TokenManager;

beforeAll(async () => {
  expect(metrics.setGlobalMeterProvider(meter)).toBe(true);
  tokens = createTokenManager({ providers: { ap: fakeProvider().provider } });
  await tokens.getToken('ap');
});

afterAll(async () => {
  await tokens.close();
  metrics.disable();
});

describe('one table of counters, three sinks', () => {
  it('the table names each counter once, with a description and a unit', () => {
    expect(new Set(TABLE.map((c) => c.stat)).size).toBe(TABLE.length);
    expect(new Set(TABLE.map((c) => c.name)).size).toBe(TABLE.length);
    for (const counter of TABLE) {
      expect(counter.description.length).toBeGreaterThan(10);
      expect(counter.unit).toMatch(/^(\{\w+\}|s)$/);
    }
    expect(TABLE.map((c) => c.stat)).toContain('cooledDown');
  });

  it('stats() has every counter of the table, per provider and in total, and no other', () => {
    const stats = tokens.stats();
    const { byProvider, ...total } = stats;
    expect(Object.keys(total).sort()).toEqual(TABLE.map((c) => c.stat).sort());
    expect(Object.keys(byProvider.ap!).sort()).toEqual(TABLE.map((c) => c.stat).sort());
  });

  it('OpenTelemetry creates and observes every counter of the table, with its description and unit', async () => {
    for (const counter of TABLE) {
      expect(meter.counters.get(`tokenbroker.${counter.name}`), counter.name).toEqual({ description: counter.description, unit: counter.unit });
    }
    expect(await meter.observed()).toEqual(new Set(TABLE.map((c) => `tokenbroker.${c.name}`)));
  });

  it('Prometheus exposes every counter of the table, with its description as help', async () => {
    const prometheus = new BrokerMetrics(tokens, () => Promise.resolve(true));
    try {
      const text = await prometheus.text();
      for (const counter of TABLE) {
        const name = `tokenbroker_${counter.name.replaceAll('.', '_')}_total`;
        expect(text, name).toContain(`# HELP ${name} ${counter.description}\n`);
        expect(text, name).toMatch(new RegExp(`^${name}\\{provider="ap"`, 'm'));
      }
    } finally {
      prometheus.close();
    }
  });
});
