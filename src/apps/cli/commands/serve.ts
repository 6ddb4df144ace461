/**
 * `tokenbroker serve --config <file>`: the credential broker (docs/broker.md). Runs until SIGTERM or
 * SIGINT, then stops accepting, finishes the requests under way, closes the token manager and the
 * store, and exits 0. SIGHUP re-reads the file (a bad file keeps the running config). A bad config
 * file stops it before it listens: exit 2, every problem named.
 *
 * Registering the command loads nothing but commander: the broker (Fastify, prom-client) is imported
 * when the command runs, and its absence is one line naming the install command.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
// Type only (erased): the module itself is imported when the command runs.
import type * as BrokerModule from '../../broker/index.js';
import { contextOf, writeLine } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { stopRequested } from '../stop-requested.js';

interface ServeOptions {
  config: string;
  check?: boolean;
  pidFile?: string;
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
      // Paragraphs only (no line breaks inside one): commander wraps them to the terminal's width.
      'Runs the credential broker: consumers authenticated by API key get access tokens from GET ' +
        '/v1/tokens/<provider> and report rejected ones to POST /v1/tokens/<provider>/invalidate; /healthz, ' +
        '/readyz and /metrics (Prometheus) are on the ops listener (loopback by default). Client secrets come ' +
        'from environment variables or files named in the config file, never from it.\n\n' +
        'SIGHUP reloads the config file; SIGTERM or SIGINT stops gracefully. The process is called ' +
        'tokenbroker (`kill -HUP "$(pidof tokenbroker)"`, or use --pid-file). Send signals to it, not to ' +
        '`npx` or `npm run`, which do not pass them on: run the bin itself (node_modules/.bin/tokenbroker).\n\n' +
        'Needs fastify and prom-client. See docs/broker.md.',
    )
    .requiredOption('-c, --config <file>', 'the broker config file (JSON)')
    .option('--check', 'validate the config file (and load its secrets), then exit without serving')
    .option('--pid-file <path>', 'write the process id to this file once listening; removed on exit')
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
          `${options.config}: ok (${counted(resolved.providers.size, 'provider')}, ${counted(resolved.consumers.length, 'consumer')}, ${resolved.store.type} store${where})\n`,
        );
        context.exitCode = EXIT.ok;
        return;
      }
      // npm (npx, npm exec, npm run) runs the broker as its child and does not pass signals on: say so now,
      // not when a SIGHUP or SIGTERM sent to npm quietly fails to reach the broker.
      const npmCommand = io.env.npm_command;
      if (npmCommand !== undefined && npmCommand !== '') {
        writeLine(
          io.stderr,
          `tokenbroker: warning: started through npm (npm ${npmCommand}): SIGHUP and SIGTERM sent to npm do not reach the broker; ` +
            'run the bin itself (node_modules/.bin/tokenbroker serve …) so that they do (docs/broker.md, "Signals")',
        );
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
      let pidFile: PidFile | undefined;
      try {
        await running.listen();
        if (options.pidFile !== undefined) pidFile = writePidFile(options.pidFile);
        await stopRequested(io.signal);
      } finally {
        process.off('SIGHUP', reload);
        await running.close();
        pidFile?.remove();
      }
      context.exitCode = EXIT.ok;
    });
}

/** `1 consumer`, `2 consumers`. */
export function counted(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** A pid file this process wrote. */
interface PidFile {
  /** Deletes the file if it still holds this process's id (another instance may have taken it over). */
  remove(): void;
}

/**
 * Writes `process.pid` to `path` once the broker listens, as service managers and scripts expect
 * (`kill -HUP "$(cat broker.pid)"`). Written to a temporary file then renamed, so a reader never sees
 * it half-written.
 * @throws {@link UsageError} when it cannot be written (the broker then stops: exit 2).
 */
function writePidFile(path: string): PidFile {
  const file = resolve(path);
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, `${process.pid}\n`, { mode: 0o644 });
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw new UsageError(`--pid-file: cannot write ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return {
    remove() {
      try {
        if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file, { force: true });
      } catch {
        // Already gone.
      }
    },
  };
}
