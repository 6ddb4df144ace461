/**
 * One attempt of a proxied call, once it passed its checks: a slot of the call budget (when the
 * provider has a rate limit), the token (without an await when it is the one already got), upstream,
 * and what the answer calls for — a 401 replayed once with a fresh token, a 429 reported to the call
 * budget, the answer passed back within its size limit.
 */
import { pipeline } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Token } from '../../../base/token.js';
import { tokenFailure, retryAfterSeconds, type BrokerError } from '../errors.js';
import { SettledTokens } from '../settled-tokens.js';
import { ByteCounter } from './body.js';
import { round, type ProxyCall } from './call.js';
import { REPLAY_HEADER, type ProxyDeps } from './deps.js';
import { contentLength, discard, libraryOptions, upstreamFailure, viaLibrary, viaProvider, type AttemptOutcome, type UpstreamAnswer } from './forward.js';
import { consumerHeaders, toHeaders } from './headers.js';
import type { CallPacer } from './pacer.js';

/** Sends a refusal of `call` (its code recorded for the audit line). */
export type Refuse = (reply: FastifyReply, call: ProxyCall, error: BrokerError) => void;

/**
 * Makes the proxy's `attempt(request, reply)` for the call in `request.proxyCall`. Synchronous up to the
 * upstream on the warm path (no pacing, the token already got): no promise and no closure per call.
 */
export function createAttempt(deps: ProxyDeps, refuse: Refuse): (request: FastifyRequest, reply: FastifyReply) => void {
  const { limits, tokens, pacer } = deps;
  const settled = new SettledTokens(deps.tokenTimeoutMs);
  const outcome: AttemptOutcome = { answer: onAnswer, failure: onFailure };
  const options = libraryOptions(outcome);

  function onFailure(reply: FastifyReply, error: unknown): void {
    if (!reply.sent) refuse(reply, reply.request.proxyCall!, upstreamFailure(error, limits));
  }

  /** A failure of the call budget or the token manager itself (not a refusal): logged, answered as such. */
  function onInternalFailure(request: FastifyRequest, reply: FastifyReply, error: unknown): void {
    request.log.error({ reqId: request.id, provider: request.proxyCall!.provider, err: { name: (error as Error)?.name } }, 'proxy: the call failed');
    if (!reply.sent) refuse(reply, request.proxyCall!, tokenFailure(error, request.proxyCall!.provider!));
  }

  /** One attempt: a slot of the call budget (when the provider has a rate limit), the token, upstream. */
  function attempt(request: FastifyRequest, reply: FastifyReply): void {
    const call = request.proxyCall!;
    // No rate limit, nothing to wait for: no signal and no listener per call.
    if (call.api!.rateLimit === undefined) {
      withToken(request, reply);
      return;
    }
    pace(pacer, call.provider!, reply).then(
      (failure) => (failure === undefined ? withToken(request, reply) : refuse(reply, call, failure)),
      (error: unknown) => onInternalFailure(request, reply, error),
    );
  }

  function withToken(request: FastifyRequest, reply: FastifyReply): void {
    const call = request.proxyCall!;
    const id = call.provider!;
    const pending = tokens.getToken(id);
    const token = settled.now(id, pending);
    if (token !== undefined) {
      forward(request, reply, token);
      return;
    }
    settled.settle(id, pending).then(
      (got) => forward(request, reply, got),
      (failure: BrokerError) => refuse(reply, call, failure),
    );
  }

  function forward(request: FastifyRequest, reply: FastifyReply, token: Token): void {
    const call = request.proxyCall!;
    call.token = token;
    call.upstreamStart = performance.now();
    // As the authorised client does (core/client.ts): a provider that sends its own requests (its
    // transport, a DPoP proof per request) does so here too.
    if (call.api!.authorizedFetch === undefined) {
      viaLibrary(request, reply, options);
      return;
    }
    void viaProvider(
      call.api!,
      request,
      reply,
      token,
      call.query === '' ? call.url : `${call.url}?${call.query}`,
      call.body,
      limits,
      (answer) => onAnswer(request, reply, answer),
      (error) => onFailure(reply, error),
    );
  }

  function onAnswer(request: FastifyRequest, reply: FastifyReply, answer: UpstreamAnswer): void {
    const call = request.proxyCall!;
    const id = call.provider!;
    call.upstreamMs = round(performance.now() - call.upstreamStart);
    call.upstreamStatus = answer.status;
    deps.metrics.upstream(id, call.upstreamMs / 1000);
    if (answer.status === 401 && !call.replayed) {
      // The token is dropped only if it is still the current one: another call may have replaced it.
      tokens.invalidate(id, call.token!.accessToken);
      if (call.body.kind !== 'streamed') {
        discard(answer.stream);
        call.replayed = true;
        deps.metrics.replay(id, 'replayed');
        attempt(request, reply);
        return;
      }
      deps.metrics.replay(id, 'not_replayable');
      reply.header(REPLAY_HEADER, `not replayed: the request body was streamed (over proxy.replayBufferBytes, ${limits.replayBufferBytes} bytes)`);
    }
    if (answer.status === 429) {
      pacer.reportRateLimited(id, { status: 429, headers: toHeaders(answer.headers) }).catch((error: unknown) => {
        request.log.warn({ reqId: request.id, provider: id, err: { name: (error as Error)?.name } }, 'proxy: reporting a 429 to the call budget failed');
      });
    }
    const refusal = passBack(reply, call, answer, limits.maxResponseBytes);
    if (refusal !== undefined) refuse(reply, call, refusal);
  }

  return attempt;
}

/** A slot of the call budget, or the answer to send when none came within its wait bound. */
async function pace(pacer: CallPacer, id: string, reply: FastifyReply): Promise<BrokerError | undefined> {
  const controller = new AbortController();
  const onClose = () => controller.abort();
  try {
    const pending = pacer.acquire(id, { signal: controller.signal });
    reply.raw.once('close', onClose);
    await pending;
    return undefined;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code !== 'rate_limited') throw error;
    return {
      status: 429,
      code: 'rate_limited',
      message: `The call budget of "${id}" has no free slot within the wait bound; no call was sent`,
      retryAfterSeconds: retryAfterSeconds((error as { retryAfterMs?: unknown }).retryAfterMs),
    };
  } finally {
    reply.raw.off('close', onClose);
  }
}

/** Sends the API's answer on (streamed, counted when its length is unknown), or the refusal of one too large. */
function passBack(reply: FastifyReply, call: ProxyCall, answer: UpstreamAnswer, maxResponseBytes: number): BrokerError | undefined {
  const length = contentLength(answer.headers);
  if (length !== undefined && length > maxResponseBytes) {
    discard(answer.stream, true);
    return { status: 502, code: 'upstream_response_too_large', message: `The API's answer is over proxy.maxResponseBytes (${maxResponseBytes} bytes)` };
  }
  reply.code(answer.status).headers(consumerHeaders(answer.headers, reply.request.id));
  if (answer.stream === undefined) {
    reply.send();
  } else if (length !== undefined) {
    call.bytesOut = length;
    reply.send(answer.stream);
  } else {
    const counter = new ByteCounter(maxResponseBytes);
    call.bytesOut = () => counter.bytes;
    pipeline(answer.stream, counter, (error) => {
      if (error !== undefined && error !== null) call.code = error.name === 'ResponseTooLargeError' ? 'upstream_response_too_large' : 'upstream_unavailable';
    });
    reply.send(counter);
  }
  return undefined;
}
