/**
 * How a shared store warns its `logger`, in one wording for every store: each warning names the store,
 * a broken logger never breaks token delivery, and an unreadable stored value is reported once per
 * kind (its reason), not once per read — a value another key wrote would otherwise warn on every miss.
 */
import type { Logger } from '../base/logger.js';
import type { Token } from '../base/token.js';
import { UnreadableValueError, type TokenCodec } from './codec.js';

/** The warnings of one store. */
export class StoreWarnings {
  readonly #store: 'redis' | 'sqlite';
  readonly #logger: Pick<Logger, 'warn'> | undefined;
  /** Unreadable-value reasons already reported. */
  readonly #reported = new Set<string>();

  /**
   * @param store the store's name in every warning's object (`store: 'redis'`).
   * @param logger the user's logger; none means no warnings.
   */
  constructor(store: 'redis' | 'sqlite', logger: Pick<Logger, 'warn'> | undefined) {
    this.#store = store;
    this.#logger = logger;
  }

  /** One warning, `store` added to its object. */
  warn(object: Record<string, unknown>, message: string): void {
    try {
      this.#logger?.warn({ store: this.#store, ...object }, message);
    } catch {
      // A broken logger must not break token delivery.
    }
  }

  /**
   * The token `codec` reads from `raw`; an unreadable value is a miss (undefined), with one warning
   * per reason. Any other error is thrown.
   */
  decode(codec: TokenCodec, key: string, raw: string): Token | undefined {
    try {
      return codec.decode(key, raw);
    } catch (error) {
      if (!(error instanceof UnreadableValueError)) throw error;
      if (!this.#reported.has(error.message)) {
        this.#reported.add(error.message);
        this.warn({ reason: error.message }, 'unreadable token in the shared store; counted as a miss, a fresh token will replace it');
      }
      return undefined;
    }
  }
}
