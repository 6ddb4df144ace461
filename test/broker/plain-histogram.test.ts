/**
 * PlainHistogram against prom-client's own Histogram: the same observations give the same exposition
 * text, with one label and with two.
 */
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { PlainHistogram } from '../../src/apps/broker/plain-histogram.js';

const BOUNDS = [0.001, 0.01, 0.1, 1];
const VALUES = [0.0005, 0.001, 0.002, 0.05, 0.05, 0.7, 3, 12];

describe('PlainHistogram', () => {
  it.each([[['provider']], [['consumer', 'provider']]] as const)('exposes what prom-client would (labels %j)', async (labelNames) => {
    const plain = new Registry();
    const reference = new Registry();
    const histogram = new PlainHistogram('t_seconds', 'Test', labelNames as readonly [string] | readonly [string, string], BOUNDS, plain);
    const expected = new Histogram({ name: 't_seconds', help: 'Test', labelNames: [...labelNames], buckets: BOUNDS, registers: [reference] });
    for (const [i, value] of VALUES.entries()) {
      const first = i % 2 === 0 ? 'a' : 'b';
      if (labelNames.length === 1) {
        histogram.observe(value, first);
        expected.observe({ provider: first }, value);
      } else {
        histogram.observe(value, first, 'ap');
        expected.observe({ consumer: first, provider: 'ap' }, value);
      }
    }
    expect(await plain.metrics()).toBe(await reference.metrics());
    histogram.reset();
    expect(await plain.metrics()).toBe('# HELP t_seconds Test\n# TYPE t_seconds histogram\n');
  });
});
