/**
 * The broker's token lookup for a request: the manager hands the same settled promise back on every
 * warm hit, and a promise settles once, so the same promise is the same token. Remembering, per
 * provider id, the last promise that settled and its token lets a warm hit be answered synchronously,
 * with no await and no timer; anything else (a fetch under way, a failure) is awaited within a deadline.
 * Used by the token routes and the proxy alike.
 */
import type { Token } from '../../base/token.js';
import { withDeadline } from '../../base/timers.js';
import { tokenFailure, type BrokerError } from './errors.js';

const TIMED_OUT = new Error('timed out');
/** No known retry time for a fetch still under way: 1 s is a guess, and says so by being small. */
const TOKEN_TIMEOUT: BrokerError = { status: 503, code: 'timeout', message: 'No token within the request timeout', retryAfterSeconds: 1 };

/** Per provider id, the token the manager's last settled promise resolved to. */
export class SettledTokens {
  readonly #last = new Map<string, { readonly promise: Promise<Token>; readonly token: Token }>();
  readonly #timeoutMs: number;

  /** `timeoutMs`: the longest {@link settle} waits for a token. */
  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** The token `pending` (the manager's answer for `id`) resolved to, when it is the promise that settled last; else undefined. */
  now(id: string, pending: Promise<Token>): Token | undefined {
    const last = this.#last.get(id);
    return last !== undefined && last.promise === pending ? last.token : undefined;
  }

  /** Awaits `pending` within the timeout and remembers its token; rejects with the broker's answer for the failure. */
  async settle(id: string, pending: Promise<Token>): Promise<Token> {
    let token: Token;
    try {
      token = await withDeadline(pending, this.#timeoutMs, () => TIMED_OUT);
    } catch (error) {
      throw error === TIMED_OUT ? TOKEN_TIMEOUT : tokenFailure(error, id);
    }
    if (this.#last.get(id)?.promise !== pending) this.#last.set(id, { promise: pending, token });
    return token;
  }
}
