/**
 * The embedded store the broker uses when its config names none. One line to switch once the SQLite
 * store is in the tree (branch `sqlite`): until then the broker falls back to memory, loudly.
 */
import type { Logger } from '../logger.js';
import type { SharedTokenStore } from '../stores/types.js';

/** What `sqliteStore` takes (the `tokenbroker/sqlite` entry point). */
export interface EmbeddedStoreOptions {
  readonly path: string;
  readonly encryptionKeys?: readonly string[];
  readonly logger?: Pick<Logger, 'warn'>;
}

// export { sqliteStore as embeddedStore } from '../stores/sqlite/index.js';
export const embeddedStore: ((options: EmbeddedStoreOptions) => SharedTokenStore) | undefined = undefined;
