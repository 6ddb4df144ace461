/**
 * Operations endpoints: /healthz, /readyz, /metrics (Prometheus text), and the guard refusal answer
 * (503 issuance_limit with Retry-After) that the metrics count.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseConfig, bearer, KEYS, startHarness, type BrokerHarness } from './helpers.js';

let h: BrokerHarness;

beforeAll(async () => {
  h = await startHarness({ config: (emulator) => baseConfig(emulator, { tokens: { retry: { attempts: 1 }, guard: { maxTokens: 1, windowMs: 60_000 } } }) });
});
afterAll(async () => h?.close());

/** The value of one sample line, e.g. `name{a="b"} 3`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = /\{(.*)\}/.exec(line)?.[1] ?? '';
    const present = labelText === '' ? [] : labelText.split(',');
    if (wanted.every((label) => present.includes(label))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('operations endpoints', () => {
  it('/healthz is alive; /readyz reports config loaded and store reachable', async () => {
    const health = await h.get('/healthz');
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ status: 'ok' });
    const ready = await h.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toMatchObject({ status: 'ready', checks: { config: 'loaded', store: 'reachable' } });
  });

  it('503 issuance_limit with Retry-After when the guard refuses, and no request is sent', async () => {
    expect((await h.get('/v1/tokens/ap', bearer(KEYS.billing))).status).toBe(200);
    const sent = h.emulator.stats().providers['alternative-payments'].tokenRequests;
    h.broker.tokens.invalidate('ap');
    const refused = await h.get('/v1/tokens/ap', bearer(KEYS.billing));
    expect(refused.status).toBe(503);
    expect(refused.json).toEqual({ error: { code: 'issuance_limit', message: expect.any(String) } });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(h.emulator.stats().providers['alternative-payments'].tokenRequests).toBe(sent);
  });

  it('/metrics: requests by route and status, cache hits, tokens issued by provider and reason, latency, guard refusals', async () => {
    for (let i = 0; i < 5; i++) await h.get('/v1/tokens/autopay', { 'x-api-key': KEYS.payouts });
    await h.get('/v1/tokens/autopay');
    const metrics = await h.get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = metrics.text;
    expect(text).toContain('# TYPE tokenbroker_http_requests_total counter');
    expect(sample(text, 'tokenbroker_http_requests_total', { route: '/v1/tokens/:provider', status: '200' })).toBe(6);
    expect(sample(text, 'tokenbroker_http_requests_total', { route: '/v1/tokens/:provider', status: '401' })).toBe(1);
    expect(sample(text, 'tokenbroker_http_requests_total', { route: '/v1/tokens/:provider', status: '503' })).toBe(1);
    // Per consumer and provider: outcomes, latency.
    expect(sample(text, 'tokenbroker_consumer_requests_total', { consumer: 'payouts', provider: 'autopay', outcome: 'issued' })).toBe(5);
    expect(sample(text, 'tokenbroker_consumer_requests_total', { consumer: 'billing', provider: 'ap', outcome: 'issuance_limit' })).toBe(1);
    expect(sample(text, 'tokenbroker_consumer_request_duration_seconds_count', { consumer: 'payouts', provider: 'autopay' })).toBe(5);
    expect(sample(text, 'tokenbroker_consumer_request_duration_seconds_bucket', { consumer: 'payouts', provider: 'autopay', le: '+Inf' })).toBe(5);
    expect(sample(text, 'tokenbroker_consumer_request_duration_seconds_bucket', { consumer: 'payouts', provider: 'autopay', le: '10' })).toBe(5);
    expect(text).toContain('# TYPE tokenbroker_consumer_request_duration_seconds histogram');
    expect(sample(text, 'tokenbroker_store_up', {})).toBe(1);
    expect(sample(text, 'tokenbroker_cache_hits_total', { provider: 'autopay' })).toBe(4);
    expect(sample(text, 'tokenbroker_tokens_issued_total', { provider: 'autopay', reason: 'coldStart' })).toBe(1);
    expect(sample(text, 'tokenbroker_tokens_issued_total', { provider: 'ap', reason: 'coldStart' })).toBe(1);
    expect(sample(text, 'tokenbroker_tokens_issued_total', { provider: 'ap', reason: 'invalidated' })).toBe(0);
    expect(sample(text, 'tokenbroker_guard_refusals_total', { provider: 'ap' })).toBe(1);
    // Pacing (issue 20): present per provider, nothing paced through token requests.
    expect(sample(text, 'tokenbroker_pacing_wait_seconds_total', { provider: 'ap' })).toBe(0);
    expect(sample(text, 'tokenbroker_pacing_refused_total', { provider: 'ap' })).toBe(0);
    expect(sample(text, 'tokenbroker_api_rate_limited_total', { provider: 'ap' })).toBe(0);
    expect(sample(text, 'tokenbroker_upstream_requests_total', { provider: 'ap' })).toBe(1);
    expect(sample(text, 'tokenbroker_upstream_token_request_duration_seconds_count', { provider: 'autopay', outcome: 'issued' })).toBe(1);
    expect(sample(text, 'tokenbroker_upstream_token_request_duration_seconds_bucket', { provider: 'autopay', outcome: 'issued', le: '+Inf' })).toBe(1);
    expect(text).toContain('tokenbroker_process_cpu_seconds_total');
    // Scraping twice does not double the counters collected from the manager's stats.
    const again = (await h.get('/metrics')).text;
    expect(sample(again, 'tokenbroker_cache_hits_total', { provider: 'autopay' })).toBe(4);
    expect(sample(again, 'tokenbroker_consumer_requests_total', { consumer: 'payouts', provider: 'autopay', outcome: 'issued' })).toBe(5);
  });
});
