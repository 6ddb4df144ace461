import type { IncomingMessage, ServerResponse } from 'node:http';

/** Largest request body the emulator reads; anything bigger is answered 413. */
export const MAX_BODY_BYTES = 64 * 1024;

// Past this the connection is cut instead of drained: nobody's test legitimately sends 8 MiB here.
const MAX_DRAINED_BYTES = 8 * 1024 * 1024;

/** A request body read to the end, or the news that it was too large. */
export type RequestBody = { tooLarge: false; text: string } | { tooLarge: true };

/**
 * Reads the whole body. An oversized body is still drained (up to a hard cap) rather than cut off,
 * so the client reliably sees the 413 instead of a reset connection while it is still writing.
 */
export function readBody(request: IncomingMessage): Promise<RequestBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    request.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received <= MAX_BODY_BYTES) chunks.push(chunk);
      else if (received > MAX_DRAINED_BYTES) request.destroy();
    });
    request.on('end', () => {
      resolve(received > MAX_BODY_BYTES ? { tooLarge: true } : { tooLarge: false, text: Buffer.concat(chunks).toString('utf8') });
    });
    request.on('error', reject);
  });
}

/** Sends a JSON answer with exactly these status and headers. Silent if the client has gone. */
export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (response.headersSent || response.destroyed) return;
  const payload = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(payload)),
    ...headers,
  });
  response.end(payload);
}

/** Token responses must not be cached by anything in between (RFC 6749 §5.1). */
export const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const;

/** The media type of a request, lower-cased and without parameters such as `charset`. */
export function mediaType(request: IncomingMessage): string {
  return (request.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
}

/** The token of an `Authorization: Bearer <token>` header, `undefined` if there is none. */
export function bearerToken(request: IncomingMessage): { present: false } | { present: true; token: string | undefined } {
  const header = request.headers.authorization;
  if (header === undefined || header.trim() === '') return { present: false };
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  return { present: true, token: match?.[1] };
}

/** Parses JSON, answering `undefined` for anything that is not a JSON object. */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
