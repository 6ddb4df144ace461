/**
 * A proxied request's body: held in memory when it is small enough to be replayed after an upstream
 * 401, streamed otherwise — both within `maxBodyBytes`. Response bodies are counted (and cut off at
 * `maxResponseBytes`) on their way back.
 */
import { Readable, Transform, type TransformCallback } from 'node:stream';

/** A request body over `maxBodyBytes`, found while streaming it. */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
  constructor() {
    super('The request body is over proxy.maxBodyBytes');
  }
}

/** A request body still arriving when its deadline passed (slow-loris protection for the upstream pool). */
export class BodyTimeoutError extends Error {
  override readonly name = 'BodyTimeoutError';
  constructor() {
    super('The request body did not arrive within limits.requestTimeoutMs');
  }
}

/** The request body, as the forwarder sends it. */
export type ProxyBody =
  | { readonly kind: 'none'; readonly bytes: 0 }
  | { readonly kind: 'buffered'; readonly buffer: Buffer; readonly bytes: number }
  | { readonly kind: 'streamed'; readonly stream: Readable; readonly bytes: () => number };

/** No request body. */
export const NO_BODY: ProxyBody = Object.freeze({ kind: 'none', bytes: 0 });

/**
 * Reads up to `replayBufferBytes` of `payload`: a body that ends within that is buffered (replayable);
 * a longer one is streamed on — what was read first, then the rest — and fails with
 * {@link BodyTooLargeError} past `maxBodyBytes`. The whole body must arrive within `timeoutMs`, or it
 * fails with {@link BodyTimeoutError}: Node's own request timeout does not cut a body that trickles in
 * once the handler runs (tested), and a trickling body would hold one of the upstream pool's connections.
 */
export async function prepareBody(
  payload: Readable | undefined,
  limits: { readonly replayBufferBytes: number; readonly maxBodyBytes: number },
  timeoutMs: number,
): Promise<ProxyBody | 'too_large'> {
  if (payload === undefined) return NO_BODY;
  const timer = setTimeout(() => payload.destroy(new BodyTimeoutError()), timeoutMs);
  const done = () => clearTimeout(timer);
  payload.once('end', done).once('close', done);
  const iterator = payload[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let size = 0;
  for (;;) {
    const next = await iterator.next();
    if (next.done === true) {
      return size === 0 ? NO_BODY : { kind: 'buffered', buffer: head.length === 1 ? head[0]! : Buffer.concat(head, size), bytes: size };
    }
    head.push(next.value);
    size += next.value.length;
    if (size > limits.maxBodyBytes) return 'too_large';
    if (size > limits.replayBufferBytes) break;
  }
  let total = size;
  const max = limits.maxBodyBytes;
  async function* rest(): AsyncGenerator<Buffer> {
    yield* head;
    head.length = 0;
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) return;
      total += next.value.length;
      if (total > max) {
        // The rest is read and dropped, so the consumer can be answered 413 rather than reset.
        payload!.resume();
        throw new BodyTooLargeError();
      }
      yield next.value;
    }
  }
  return { kind: 'streamed', stream: Readable.from(rest(), { objectMode: false }), bytes: () => total };
}

/** An upstream answer over `maxResponseBytes`, found while streaming it back. */
export class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';
  constructor() {
    super('The upstream answer is over proxy.maxResponseBytes');
  }
}

/** Counts the bytes of an answer of unknown length, and fails past `max` (the consumer's connection is then cut). */
export class ByteCounter extends Transform {
  bytes = 0;
  readonly #max: number;

  constructor(max: number) {
    super();
    this.#max = max;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.#max) callback(new ResponseTooLargeError());
    else callback(null, chunk);
  }
}
