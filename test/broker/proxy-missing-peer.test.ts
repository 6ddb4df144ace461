/**
 * A broker without @fastify/reply-from (an optional peer): it starts, serves tokens, logs one line
 * naming the package, and the proxy routes answer 501 `proxy_unavailable` with that line.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type * as Library from '../../src/apps/broker/proxy/library.js';
import { bearer, KEYS, startHarness, type BrokerHarness } from './helpers.js';

// loadReplyFrom answers undefined when the import fails with ERR_MODULE_NOT_FOUND naming the package
// (proxy-sidecar.test.ts checks that); here the whole broker runs as it then does.
vi.mock('../../src/apps/broker/proxy/library.js', async (original) => ({
  ...(await original<typeof Library>()),
  loadReplyFrom: () => Promise.resolve(undefined),
}));

describe('broker proxy without @fastify/reply-from', () => {
  let harness: BrokerHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('serves tokens, logs one line, and answers the proxy with 501 proxy_unavailable', async () => {
    harness = await startHarness();
    expect((await harness.get('/v1/tokens/ap', bearer(KEYS.billing))).status).toBe(200);
    const answer = await harness.get('/v1/proxy/ap/customers', bearer(KEYS.billing));
    expect(answer.status).toBe(501);
    expect(answer.json).toEqual({
      error: { code: 'proxy_unavailable', message: 'The proxy needs the optional peer dependency @fastify/reply-from: npm install @fastify/reply-from' },
    });
    expect(harness.logs.filter((line) => line.includes('npm install @fastify/reply-from') && line.includes('"level":50'))).toHaveLength(1);
  });
});
