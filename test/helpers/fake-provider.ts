/**
 * A provider whose answers a test scripts, counting every request it receives.
 */
import { defineProvider, type Provider, type TokenResponse } from '../../src/index.js';

export type Answer = TokenResponse | Error | (() => TokenResponse | Promise<TokenResponse>);

export interface FakeProvider {
  readonly provider: Provider;
  /** Requests received so far. */
  readonly calls: () => number;
  /** Scripts the next answers, in order; once used up, `fallback` answers. */
  queue(...answers: Answer[]): void;
}

let counter = 0;

export function tokenBody(expiresIn: number | string | undefined = 3600, extra: Record<string, unknown> = {}): TokenResponse {
  counter += 1;
  return {
    body: {
      access_token: `tok-${counter}-${Math.random().toString(36).slice(2)}`,
      token_type: 'bearer',
      ...(expiresIn === undefined ? {} : { expires_in: expiresIn }),
      ...extra,
    },
  };
}

export function fakeProvider(
  options: { fallback?: () => Answer; clientSecret?: string; apiBaseUrl?: string; defaultExpiresInSeconds?: number } = {},
): FakeProvider {
  let calls = 0;
  const queued: Answer[] = [];
  const fallback = options.fallback ?? (() => tokenBody());
  const provider = defineProvider({
    kind: 'fake',
    tokenUrl: 'https://auth.example.test/oauth/token',
    clientId: 'fake-client',
    clientSecret: options.clientSecret ?? 'fake-secret',
    apiBaseUrl: options.apiBaseUrl,
    defaultExpiresInSeconds: options.defaultExpiresInSeconds,
    async requestToken() {
      calls += 1;
      let answer = queued.length > 0 ? queued.shift()! : fallback();
      if (typeof answer === 'function') answer = await answer();
      if (answer instanceof Error) throw answer;
      return answer;
    },
  });
  return { provider, calls: () => calls, queue: (...answers) => queued.push(...answers) };
}
