/**
 * What the local cache holds per credential. Private to the package: the manager's warm hit trusts
 * `live` and `refreshAt` alone.
 *
 * Every field costs 8 bytes and every epoch-ms number a heap object of its own, per credential, so the
 * two deadlines are kept as offsets from the token's `issuedAt`, made small integers by `compactMs` (any
 * whole number of ms under 24 days is one), and read through getters.
 */
import { compactMs, type Token } from '../base/token.js';

/** Who holds a direct reference to an entry; the store clears it when it drops the entry. */
export interface EntryHolder {
  /** The holder's current entry; set to undefined when this one is dropped. */
  entry: CacheEntry | undefined;
}

/** One cached token with its deadlines and its resolved promise. */
export class CacheEntry {
  /** The token. */
  readonly token: Token;
  /** `Promise.resolve(token)`, made once, so a warm `getToken` returns it without allocating. */
  readonly promise: Promise<Token>;
  /** `usableUntil − token.issuedAt`, ms. */
  readonly #usableFor: number;
  /** `refreshAt − token.issuedAt`, ms. */
  #refreshAfter: number;
  /**
   * True until the store drops the entry (eviction, removal, replacement). The manager keeps a direct
   * reference to its current entry and trusts it only while this holds, so a warm hit needs no lookup.
   */
  live = true;
  /** Who holds a direct reference to this entry. */
  holder: EntryHolder | undefined;

  constructor(token: Token, times: { readonly usableUntil: number; readonly refreshAt: number }, holder: EntryHolder | undefined) {
    this.token = token;
    this.promise = Promise.resolve(token);
    this.#usableFor = compactMs(times.usableUntil - token.issuedAt);
    this.#refreshAfter = compactMs(times.refreshAt - token.issuedAt);
    this.holder = holder;
  }

  /** Served only while `Date.now() < usableUntil` (expiry minus skew). */
  get usableUntil(): number {
    return this.token.issuedAt + this.#usableFor;
  }

  /**
   * From then on, one caller refreshes in the background. Moved later after a failed refresh, but never
   * past `usableUntil`: the warm-hit path checks only this.
   */
  get refreshAt(): number {
    return this.token.issuedAt + this.#refreshAfter;
  }

  set refreshAt(at: number) {
    this.#refreshAfter = compactMs(Math.min(at, this.usableUntil) - this.token.issuedAt);
  }
}
