/**
 * What `tokenbroker serve` needs of the broker besides `createBroker`: reading its config file and the
 * file's context, validating it for `--check`, and checking the store options. Internal: not part of
 * the `tokenbroker/broker` entry point; the command imports this module directly.
 */
import { basename, dirname, resolve } from 'node:path';
import { ConfigError } from '../../base/errors.js';
import { renameIssues } from '../../base/zod-issues.js';
import { requireSqliteRuntime } from '../../stores/sqlite/runtime.js';
import type { ResolvedStore } from './config.js';
import { buildBrokerStore, sqliteField } from './store.js';

export { readJsonFile } from '../config-file.js';
export { resolveBrokerConfig } from './config.js';

/** The directory a config file's relative paths start from, and its name for messages. */
export function configFileContext(path: string): { baseDir: string; source: string } {
  return { baseDir: dirname(resolve(path)), source: basename(path) };
}

/**
 * `serve --check`: the store options go through the library's validation too (a Redis store is built
 * and closed at once; an embedded store is not created, so checking writes nothing, but a Node.js
 * without `node:sqlite` is refused, as `serve` would be).
 * @throws ConfigError as `buildBrokerStore` does, naming the config file's field.
 */
export async function checkBrokerStore(config: ResolvedStore, source: string | undefined): Promise<void> {
  if (config.type === 'sqlite') {
    try {
      requireSqliteRuntime();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      throw new ConfigError(renameIssues(error.issues, sqliteField(config), source));
    }
    return;
  }
  if (config.type !== 'redis') return;
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  await buildBrokerStore(config, silent, source).store?.close();
}
