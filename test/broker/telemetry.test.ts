/**
 * The library's OpenTelemetry output (src/core/telemetry.ts), through a minimal hand-written MeterProvider
 * and TracerProvider registered globally (the SDK packages are not dependencies of this project).
 */
import {
  metrics,
  trace,
  type Attributes,
  type BatchObservableCallback,
  type Meter,
  type MeterProvider,
  type Observable,
  type Span,
  type SpanOptions,
  type SpanStatus,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { alternativePayments, createTokenManager } from 'tokenbroker';
import { SAMPLE_CLIENTS, startEmulator, type Emulator } from 'tokenbroker/emulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface RecordedSpan {
  name: string;
  attributes: Attributes;
  status: SpanStatus | undefined;
  ended: boolean;
}

class TestTracer implements TracerProvider {
  readonly spans: RecordedSpan[] = [];
  getTracer(): Tracer {
    const spans = this.spans;
    return {
      startSpan(name: string, options?: SpanOptions): Span {
        const recorded: RecordedSpan = { name, attributes: { ...options?.attributes }, status: undefined, ended: false };
        spans.push(recorded);
        const span = {
          spanContext: () => ({ traceId: '0'.repeat(31) + '1', spanId: '0'.repeat(15) + '1', traceFlags: 1 }),
          setAttribute: (key: string, value: unknown) => {
            recorded.attributes[key] = value as never;
            return span;
          },
          setAttributes: (attributes: Attributes) => {
            Object.assign(recorded.attributes, attributes);
            return span;
          },
          setStatus: (status: SpanStatus) => {
            recorded.status = status;
            return span;
          },
          end: () => {
            recorded.ended = true;
          },
          isRecording: () => true,
          addEvent: () => span,
          addLink: () => span,
          addLinks: () => span,
          updateName: () => span,
          recordException: () => {},
        };
        return span as unknown as Span;
      },
      startActiveSpan: (() => {
        throw new Error('not used');
      }) as Tracer['startActiveSpan'],
    };
  }
}

class TestMeter implements MeterProvider {
  readonly histograms = new Map<string, Array<{ value: number; attributes: Attributes | undefined }>>();
  readonly batches: Array<{ callback: BatchObservableCallback; observables: Observable[] }> = [];
  readonly meterNames: string[] = [];

  getMeter(name: string): Meter {
    this.meterNames.push(name);
    const observable = (instrument: string) => ({ instrument, addCallback: () => {}, removeCallback: () => {} });
    const meter = {
      createHistogram: (instrument: string) => {
        const points: Array<{ value: number; attributes: Attributes | undefined }> = [];
        this.histograms.set(instrument, points);
        return { record: (value: number, attributes?: Attributes) => points.push({ value, attributes }) };
      },
      createObservableCounter: observable,
      createObservableGauge: observable,
      createObservableUpDownCounter: observable,
      addBatchObservableCallback: (callback: BatchObservableCallback, observables: Observable[]) => {
        this.batches.push({ callback, observables });
      },
      removeBatchObservableCallback: (callback: BatchObservableCallback) => {
        const index = this.batches.findIndex((batch) => batch.callback === callback);
        if (index >= 0) this.batches.splice(index, 1);
      },
    };
    return meter as unknown as Meter;
  }

  /** What a collection would see: every observation, as `instrument{attributes} value`. */
  async collect(): Promise<Map<string, number>> {
    const seen = new Map<string, number>();
    for (const { callback } of this.batches) {
      await callback({
        observe: (observable: Observable, value: number, attributes?: Attributes) => {
          const name = (observable as unknown as { instrument: string }).instrument;
          seen.set(`${name}${JSON.stringify(attributes ?? {})}`, value);
        },
      });
    }
    return seen;
  }
}

const tracer = new TestTracer();
const meter = new TestMeter();
let emulator: Emulator;
const [apClient] = SAMPLE_CLIENTS;

beforeAll(async () => {
  expect(metrics.setGlobalMeterProvider(meter)).toBe(true);
  expect(trace.setGlobalTracerProvider(tracer)).toBe(true);
  emulator = await startEmulator({ ban: false });
});

afterAll(async () => {
  metrics.disable();
  trace.disable();
  await emulator?.close();
});

describe('OpenTelemetry', () => {
  it('one span and one latency point per upstream fetch; none on warm hits', async () => {
    const tokens = createTokenManager({
      providers: {
        ap: alternativePayments({ clientId: apClient.clientId, clientSecret: apClient.clientSecret, baseUrl: emulator.alternativePaymentsBaseUrl }),
      },
    });
    try {
      await tokens.getToken('ap');
      for (let i = 0; i < 1000; i++) await tokens.getToken('ap');
      const spans = tracer.spans.filter((span) => span.name === 'tokenbroker.fetch_token');
      expect(spans).toHaveLength(1);
      expect(spans[0]).toEqual({
        name: 'tokenbroker.fetch_token',
        attributes: {
          'tokenbroker.provider.id': 'ap',
          'tokenbroker.provider.kind': 'alternative-payments',
          'tokenbroker.reason': 'coldStart',
          'tokenbroker.attempts': 1,
          'tokenbroker.outcome': 'issued',
        },
        status: undefined,
        ended: true,
      });
      expect(meter.meterNames).toContain('tokenbroker');
      const latency = meter.histograms.get('tokenbroker.upstream.duration')!;
      expect(latency).toHaveLength(1);
      expect(latency[0]!.value).toBeGreaterThan(0);
      expect(latency[0]!.value).toBeLessThan(10);
      expect(latency[0]!.attributes).toEqual({
        'tokenbroker.provider.id': 'ap',
        'tokenbroker.provider.kind': 'alternative-payments',
        'tokenbroker.outcome': 'issued',
      });

      // Pacing counters (issue 20): one 429 fed back.
      await tokens.reportRateLimited('ap', { status: 429, headers: new Headers({ 'retry-after': '0' }) });
      const observed = await meter.collect();
      expect(observed.get('tokenbroker.api.rate_limited{"tokenbroker.provider.id":"ap"}')).toBe(1);
      expect(observed.get('tokenbroker.pacing.refused{"tokenbroker.provider.id":"ap"}')).toBe(0);
      expect(observed.get('tokenbroker.pacing.wait_seconds{"tokenbroker.provider.id":"ap"}')).toBe(0);
      expect(observed.get('tokenbroker.cache.hits{"tokenbroker.provider.id":"ap"}')).toBe(1000);
      expect(observed.get('tokenbroker.cache.misses{"tokenbroker.provider.id":"ap"}')).toBe(1);
      expect(observed.get('tokenbroker.upstream.requests{"tokenbroker.provider.id":"ap"}')).toBe(1);
      expect(observed.get('tokenbroker.tokens.issued{"tokenbroker.provider.id":"ap","tokenbroker.reason":"coldStart"}')).toBe(1);
      expect(observed.get('tokenbroker.tokens.issued{"tokenbroker.provider.id":"ap","tokenbroker.reason":"forced"}')).toBe(0);
      expect(observed.get('tokenbroker.guard.refusals{"tokenbroker.provider.id":"ap"}')).toBe(0);
    } finally {
      await tokens.close();
    }
  });

  it('a failed fetch: span status ERROR with the error code, attempts counted, no secret anywhere', async () => {
    const secret = 'definitely-wrong-secret-9f8e7d6c';
    const tokens = createTokenManager({
      providers: { bad: alternativePayments({ clientId: apClient.clientId, clientSecret: secret, baseUrl: emulator.alternativePaymentsBaseUrl }) },
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
    });
    try {
      await expect(tokens.getToken('bad')).rejects.toMatchObject({ code: 'invalid_credentials' });
      const span = tracer.spans.find((s) => s.attributes['tokenbroker.provider.id'] === 'bad')!;
      expect(span.attributes['tokenbroker.outcome']).toBe('invalid_credentials');
      expect(span.attributes['tokenbroker.attempts']).toBe(1); // invalid credentials are never retried
      expect(span.status).toEqual({ code: 2, message: 'invalid_credentials' });
      expect(span.ended).toBe(true);
      expect(JSON.stringify(tracer.spans)).not.toContain(secret);
      const observed = await meter.collect();
      expect(observed.get('tokenbroker.upstream.failures{"tokenbroker.provider.id":"bad"}')).toBe(1);
    } finally {
      await tokens.close();
    }
  });

  it('retries are counted as attempts of one fetch', async () => {
    const tokens = createTokenManager({
      providers: {
        ap2: alternativePayments({ clientId: apClient.clientId, clientSecret: apClient.clientSecret, baseUrl: emulator.alternativePaymentsBaseUrl }),
      },
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
    });
    emulator.configure({ force429: { count: 2 } });
    try {
      await tokens.getToken('ap2');
      const span = tracer.spans.find((s) => s.attributes['tokenbroker.provider.id'] === 'ap2')!;
      expect(span.attributes['tokenbroker.attempts']).toBe(3);
      expect(span.attributes['tokenbroker.outcome']).toBe('issued');
    } finally {
      await tokens.close();
    }
  });
});
