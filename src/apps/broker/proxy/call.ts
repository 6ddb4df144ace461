/**
 * One proxied call's record: what its audit line and metrics say, filled in as the call goes, written
 * once when the answer is done (or the connection closed first).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Token } from '../../../base/token.js';
import type { Provider } from '../../../providers/provider.js';
import { fingerprint } from '../audit.js';
import type { Consumer } from '../config.js';
import { proxyAuditLine } from './audit.js';
import { NO_BODY, type ProxyBody } from './body.js';
import type { ProxyMetrics } from './metrics.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The proxied call under way (undefined on every other route). */
    proxyCall: ProxyCall | undefined;
  }
}

/**
 * One proxied call: where it goes (set once its checks passed) and what its audit line and metrics say.
 * The proxy's callbacks read it from the request, so they are made once, not per call.
 */
export interface ProxyCall {
  consumer: Consumer | undefined;
  /** The provider id. */
  provider: string | undefined;
  /** The provider itself, once the call passed its checks. */
  api: Provider | undefined;
  /** The upstream URL without its query, and the query (never logged). */
  url: string;
  query: string;
  /** The API's `Host`. */
  host: string;
  body: ProxyBody;
  /** The upstream's response headers of the current attempt, as reply-from hands them over. */
  answerHeaders: Record<string, string | string[] | undefined>;
  path: string | undefined;
  code: string | undefined;
  upstreamStatus: number | undefined;
  upstreamStart: number;
  upstreamMs: number | undefined;
  /** Bytes of the request body: a count, or a function reading a streamed body's live count. */
  bytesIn: number | (() => number);
  bytesOut: number | (() => number);
  replayed: boolean;
  token: Token | undefined;
  /** Set once its audit line is written (at the answer's end, or when the connection closed first). */
  recorded: boolean;
}

const NO_HEADERS: Record<string, never> = Object.freeze({});

/** A call with nothing known yet. */
export function newCall(consumer: Consumer | undefined): ProxyCall {
  return {
    consumer,
    provider: undefined,
    api: undefined,
    url: '',
    query: '',
    host: '',
    body: NO_BODY,
    answerHeaders: NO_HEADERS,
    path: undefined,
    code: undefined,
    upstreamStatus: undefined,
    upstreamStart: 0,
    upstreamMs: undefined,
    bytesIn: 0,
    bytesOut: 0,
    replayed: false,
    token: undefined,
    recorded: false,
  };
}

/** Milliseconds to three decimals. */
export function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** Writes the audit line and counts the call, once its answer is done. */
export function record(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: { readonly metrics: ProxyMetrics; readonly audit: { line(text: string): void } | undefined },
): void {
  const call = request.proxyCall;
  if (call === undefined || call.recorded) return;
  call.recorded = true;
  const admission = request.brokerAudit;
  const consumer = call.consumer?.name ?? admission?.consumer;
  const provider = call.provider ?? admission?.provider;
  const code = call.code ?? (call.consumer === undefined ? admission?.code : undefined);
  const status = reply.statusCode;
  deps.metrics.answered(provider ?? '-', consumer ?? '-', status);
  if (code !== undefined) deps.metrics.refusal(code);
  if (deps.audit === undefined) return;
  const bytesOut = typeof call.bytesOut === 'function' ? call.bytesOut() : call.bytesOut;
  deps.audit.line(
    proxyAuditLine({
      reqId: request.id,
      consumer,
      keyId: admission?.keyId,
      ip: request.ip,
      provider,
      method: request.method,
      path: call.path,
      status,
      code,
      upstreamStatus: call.upstreamStatus,
      upstreamMs: call.upstreamMs,
      totalMs: round(reply.elapsedTime),
      bytesIn: typeof call.bytesIn === 'function' ? call.bytesIn() : call.bytesIn,
      bytesOut,
      replayed: call.replayed,
      fingerprint: call.token === undefined ? undefined : fingerprint(call.token),
    }),
  );
}
