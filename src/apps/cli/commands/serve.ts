/**
 * `tokenbroker serve --config <file>`: the credential broker (docs/broker.md). Runs until SIGTERM or
 * SIGINT, then stops accepting, finishes the requests under way, closes the token manager and the
 * store, and exits 0. SIGHUP re-reads the file (a bad file keeps the running config). A bad config
 * file stops it before it listens: exit 2, every problem named.
 *
 * Registering the command loads nothing but commander: the broker (Fastify, prom-client) is imported
 * when the command runs, and its absence is one line naming the install command.
 */
import type { Command } from 'commander';
// Type only (erased): the module itself is imported when the command runs.
import type * as BrokerModule from '../../broker/index.js';
import { contextOf } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { stopRequested } from '../stop-requested.js';

interface ServeOptions {
  config: string;
  check?: boolean;
}

/** The broker's optional peer dependencies, as `npm install` takes them. */
const PEERS = ['fastify', 'prom-client'];

/** What `serve` imports when it runs (a test replaces it to simulate a missing peer). */
export type BrokerImporter = () => Promise<typeof BrokerModule>;

let importBroker: BrokerImporter = () => import('../../broker/index.js');

/** For tests: replaces how `serve` loads the broker; returns the previous importer. */
export function setBrokerImporter(importer: BrokerImporter): BrokerImporter {
  const previous = importBroker;
  importBroker = importer;
  return previous;
}

/** Loads the broker, turning a missing peer dependency into one line that names the fix. */
async function loadBroker(): Promise<typeof BrokerModule> {
  try {
    return await importBroker();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const message = error instanceof Error ? error.message : '';
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && /['"](fastify|prom-client|pino)['"/]/.test(message)) {
      throw new UsageError(`serve needs the broker's dependencies, which are not installed: npm install ${PEERS.join(' ')}`);
    }
    throw error;
  }
}

/** Registers `tokenbroker serve`. */
export function serveCommand(program: Command): void {
  program
    .command('serve')
    .summary('run the credential broker: tokens over an authenticated HTTP API')
    .description(
      'Runs the credential broker: consumers authenticated by API key get access tokens from\n' +
        'GET /v1/tokens/<provider> and report rejected ones to POST /v1/tokens/<provider>/invalidate;\n' +
        '/healthz, /readyz and /metrics (Prometheus) on the ops listener (loopback by default).\n' +
        'Client secrets come from environment variables or files named in the config file, never from it.\n' +
        'SIGHUP reloads the config file; SIGTERM or SIGINT stops gracefully. Needs fastify and prom-client.\n' +
        'See docs/broker.md.',
    )
    .requiredOption('-c, --config <file>', 'the broker config file (JSON)')
    .option('--check', 'validate the config file (and load its secrets), then exit without serving')
    .action(async (options: ServeOptions, command: Command) => {
      const context = contextOf(command);
      const { io } = context;
      const broker = await loadBroker();
      // The command's plumbing: internal to the broker, not in the tokenbroker/broker entry point.
      const { checkBrokerStore, configFileContext, readJsonFile, resolveBrokerConfig } = await import('../../broker/command.js');
      const raw = readJsonFile(options.config);
      const load = { env: io.env, ...configFileContext(options.config) };
      if (options.check === true) {
        const resolved = resolveBrokerConfig(raw, load);
        for (const secret of resolved.secrets) context.secrets.add(secret);
        await checkBrokerStore(resolved.store, load.source);
        const where = resolved.store.type === 'sqlite' ? ` at ${resolved.store.path}` : '';
        io.stdout.write(
          `${options.config}: ok (${resolved.providers.size} providers, ${resolved.consumers.length} consumers, ${resolved.store.type} store${where})\n`,
        );
        context.exitCode = EXIT.ok;
        return;
      }
      // The real stdout gets pino's own writer (sonic-boom); a test's collector gets the lines directly.
      const running = broker.createBroker(raw, { ...load, ...(io.stdout === process.stdout ? {} : { logDestination: io.stdout }) });
      const reload = () => {
        try {
          running.reload(() => readJsonFile(options.config), load);
        } catch {
          // Logged by the broker (one error line); the running config stays.
        }
      };
      process.on('SIGHUP', reload);
      try {
        await running.listen();
        await stopRequested(io.signal);
      } finally {
        process.off('SIGHUP', reload);
        await running.close();
      }
      context.exitCode = EXIT.ok;
    });
}
