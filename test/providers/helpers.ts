import nock from 'nock';
import { afterEach, beforeEach, expect } from 'vitest';
import type { TokenRequestContext } from '../../src/providers/provider.js';
import { everythingAbout } from '../helpers/leak-scan.js';

/** What the manager would pass: a live signal and the default per-attempt timeout. */
export function context(): TokenRequestContext {
  return { signal: new AbortController().signal, timeoutMs: 10_000 };
}

/** No real network; every test starts and ends with no interceptors left. */
export function useNock(): void {
  beforeEach(() => {
    nock.disableNetConnect();
  });
  afterEach(() => {
    nock.cleanAll();
    nock.enableNetConnect();
  });
}

/** The rejection of `promise`, failing the test if it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  expect.fail('expected the promise to reject');
}

/** A request as nock saw it. */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * A nock reply function that records the request and answers `status`/`body`. nock 15 calls it with the
 * intercepted fetch `Request`.
 */
export function recorder(
  seen: SeenRequest[],
  status = 200,
  body: unknown = { access_token: 'tok-1', token_type: 'bearer', expires_in: 3600 },
  headers: Record<string, string> = {},
) {
  return async (request: Request) => {
    const url = new URL(request.url);
    seen.push({
      method: request.method,
      path: url.pathname + url.search,
      headers: Object.fromEntries(request.headers),
      body: await request.text(),
    });
    return [status, typeof body === 'string' ? body : JSON.stringify(body), { 'content-type': 'application/json', ...headers }] as const;
  };
}

/** Decodes `Basic xxx` into `id:secret`. */
export function decodeBasic(header: string | undefined): string {
  expect(typeof header).toBe('string');
  const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header as string);
  expect(match).not.toBeNull();
  return Buffer.from(match![1]!, 'base64').toString('utf8');
}

/** Every way a secret can be spelled on the wire. */
export function secretForms(secret: string, clientId = ''): string[] {
  const forms = [
    secret,
    encodeURIComponent(secret),
    new URLSearchParams({ s: secret }).toString().slice(2),
    Buffer.from(secret).toString('base64'),
    Buffer.from(secret).toString('base64').replace(/=+$/, ''),
  ];
  if (clientId !== '') forms.push(Buffer.from(`${clientId}:${secret}`).toString('base64'));
  return forms;
}

/** Every text an error can be seen through (see test/helpers/leak-scan.ts). */
export function errorViews(error: unknown): string[] {
  return [everythingAbout(error)];
}

/** Asserts that none of `views` holds any of `forms`. */
export function expectNoneOf(views: readonly string[], forms: readonly string[]): void {
  for (const view of views) {
    for (const form of forms) {
      expect(view.includes(form), `found ${JSON.stringify(form)} in ${view}`).toBe(false);
    }
  }
}
