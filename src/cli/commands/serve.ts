/**
 * `tokenbroker serve --config <file>`: the credential broker (docs/broker.md). Runs until SIGTERM or
 * SIGINT, then stops accepting, finishes the requests under way, closes the token manager and the
 * store, and exits 0. A bad config file stops it before it listens: exit 2, every problem named.
 */
import type { Command } from 'commander';
import { configFileContext, createBroker, readBrokerConfigFile, resolveBrokerConfig } from '../../broker/index.js';
import { contextOf } from '../context.js';
import { EXIT } from '../errors.js';
import { stopRequested } from '../stop-requested.js';

interface ServeOptions {
  config: string;
  check?: boolean;
}

/** Registers `tokenbroker serve`. */
export function serveCommand(program: Command): void {
  program
    .command('serve')
    .summary('run the credential broker: tokens over an authenticated HTTP API')
    .description(
      'Runs the credential broker: consumers authenticated by API key get access tokens from\n' +
        'GET /v1/tokens/<provider>; /healthz, /readyz and /metrics (Prometheus) for operations.\n' +
        'Client secrets come from environment variables or files named in the config file, never from it.\n' +
        'Stops gracefully on SIGTERM or SIGINT. See docs/broker.md.',
    )
    .requiredOption('-c, --config <file>', 'the broker config file (JSON)')
    .option('--check', 'validate the config file (and load its secrets), then exit without serving')
    .action(async (options: ServeOptions, command: Command) => {
      const context = contextOf(command);
      const { io } = context;
      const raw = readBrokerConfigFile(options.config);
      const load = { env: io.env, ...configFileContext(options.config) };
      if (options.check === true) {
        const resolved = resolveBrokerConfig(raw, load);
        for (const secret of resolved.secrets) context.secrets.add(secret);
        io.stdout.write(`${options.config}: ok (${resolved.providers.size} providers, ${resolved.consumers.length} consumers, ${resolved.store.type} store)\n`);
        context.exitCode = EXIT.ok;
        return;
      }
      // The real stdout gets pino's own writer (sonic-boom); a test's collector gets the lines directly.
      const broker = createBroker(raw, { ...load, ...(io.stdout === process.stdout ? {} : { logDestination: io.stdout }) });
      try {
        await broker.listen();
        await stopRequested(io.signal);
      } finally {
        await broker.close();
      }
      context.exitCode = EXIT.ok;
    });
}
