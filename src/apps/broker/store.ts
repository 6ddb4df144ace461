/**
 * The broker's store, built from its config section. The library validates the options (Redis URL,
 * encryption keys) and its ConfigError is renamed to the config file's fields, so a mistake is still
 * named as the user wrote it. Readiness asks the store itself, whatever kind it is.
 */
import { dirname } from 'node:path';
import { ConfigError } from '../../base/errors.js';
import type { Logger } from '../../base/logger.js';
import { redisStore } from '../../stores/redis/index.js';
import { requireSqliteRuntime } from '../../stores/sqlite/runtime.js';
import { sqliteStore } from '../../stores/sqlite/index.js';
import type { SharedTokenStore } from '../../stores/types.js';
import type { ResolvedStore } from './config.js';

/** A built store: `undefined` for the manager's own memory store. */
export interface BrokerStore {
  readonly store: SharedTokenStore | undefined;
  /** What `/readyz` and the startup line call it: `memory`, `sqlite` or `redis`. */
  readonly kind: 'memory' | 'sqlite' | 'redis';
  /** Whether the shared store answers within `timeoutMs`; always true for memory. */
  reachable(timeoutMs: number): Promise<boolean>;
}

const PROBE_KEY = 'tokenbroker:readyz-probe';

/**
 * Builds the store the config names: the embedded SQLite store by default, memory (with a loud
 * warning), or Redis.
 * @throws {@link ConfigError} naming the config field (`<source>: store.urlEnv`…) the library refused.
 */
export function buildBrokerStore(config: ResolvedStore, logger: Logger, source: string | undefined): BrokerStore {
  if (config.type === 'memory') {
    logger.warn(
      { store: 'memory' },
      'MEMORY STORE: tokens and the issuance budget are lost on every restart, and each restart asks the provider for a new token; ' +
        'remove "store" to use the embedded store in stateDir',
    );
    return memory;
  }
  const rename =
    (field: (libraryPath: string) => string) =>
    (error: unknown): never => {
      if (!(error instanceof ConfigError)) throw error;
      const at = (path: string) => (source === undefined ? path : `${source}: ${path}`);
      throw new ConfigError(error.issues.map((issue) => ({ path: at(field(issue.path)), message: issue.message })));
    };
  const keysField = (path: string) => (/encryptionKeys/.test(path) ? 'store.encryptionKeysEnv' : 'store');
  if (config.type === 'sqlite') {
    let store: SharedTokenStore;
    try {
      store = sqliteStore({
        path: config.path,
        ...(config.encryptionKeys === undefined ? {} : { encryptionKeys: config.encryptionKeys }),
        logger,
      });
    } catch (error) {
      if (error instanceof ConfigError) return rename(sqliteField(config))(error);
      const code = (error as { code?: unknown }).code;
      throw new ConfigError([
        {
          path: config.inStateDir ? 'stateDir' : 'store.path',
          message: `cannot create ${dirname(config.path)}${typeof code === 'string' ? ` (${code})` : ''}`,
        },
      ]);
    }
    return shared(store, 'sqlite');
  }
  let store: SharedTokenStore;
  try {
    store = redisStore({
      url: config.url,
      ...(config.keyPrefix === undefined ? {} : { keyPrefix: config.keyPrefix }),
      ...(config.encryptionKeys === undefined ? {} : { encryptionKeys: config.encryptionKeys }),
      logger,
    });
  } catch (error) {
    return rename((path) => (/url/i.test(path) ? `store.${config.urlField}` : /keyPrefix/.test(path) ? 'store.keyPrefix' : keysField(path)))(error);
  }
  return shared(store, 'redis');
}

/** The config field a `sqliteStore()` issue is about; the Node.js check (`sqliteStore`) is about the store as a whole. */
const sqliteField =
  (config: Extract<ResolvedStore, { type: 'sqlite' }>) =>
  (path: string): string =>
    path === 'sqliteStore'
      ? 'store'
      : /path/.test(path)
        ? config.inStateDir
          ? 'stateDir'
          : 'store.path'
        : /encryptionKeys/.test(path)
          ? 'store.encryptionKeysEnv'
          : 'store';

const memory: BrokerStore = { store: undefined, kind: 'memory', reachable: () => Promise.resolve(true) };

function shared(store: SharedTokenStore, kind: 'sqlite' | 'redis'): BrokerStore {
  return {
    store,
    kind,
    async reachable(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      try {
        return await Promise.race([store.get(PROBE_KEY).then(() => true), deadline]);
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/**
 * `serve --check`: the store options go through the library's validation too (a Redis store is built
 * and closed at once; an embedded store is not created, so checking writes nothing, but a Node.js
 * without `node:sqlite` is refused).
 * @throws {@link ConfigError} as {@link buildBrokerStore} does.
 */
export async function checkBrokerStore(config: ResolvedStore, source: string | undefined): Promise<void> {
  if (config.type === 'sqlite') {
    // Nothing is created; but a Node.js that cannot run the store fails the check, as it would fail `serve`.
    try {
      requireSqliteRuntime();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      const at = (path: string) => (source === undefined ? path : `${source}: ${path}`);
      throw new ConfigError(error.issues.map((issue) => ({ path: at(sqliteField(config)(issue.path)), message: issue.message })));
    }
    return;
  }
  if (config.type !== 'redis') return;
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  await buildBrokerStore(config, silent, source).store?.close();
}
