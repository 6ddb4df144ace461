/**
 * `tokenbroker emulate`: the offline emulator of both providers, in the foreground until Ctrl-C.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { ConfigError } from '../../../base/errors.js';
import type { Emulator, EmulatorClient, EmulatorOptions } from '../../emulator/index.js';
import { ENV_VARS } from '../config.js';
import { contextOf, type Output, writeLine } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { stopRequested } from '../stop-requested.js';

interface EmulateOptions {
  port: number;
  host: string;
  tokenLifetime?: number;
  apTokenLifetime?: number;
  autopayTokenLifetime?: number;
  latency?: number;
  errorRate?: number;
  apRateLimit?: number;
  apApiRateLimit?: number;
  autopayApiRateLimit?: number;
  banMaxTokens?: number;
  banWindow?: number;
  ban: boolean;
}

function integer(min: number, max: number): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!/^\d+$/.test(value) || number < min || number > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}.`);
    return number;
  };
}

function fraction(value: string): number {
  const number = Number(value);
  if (!/^\d*\.?\d+$/.test(value) || number > 1) throw new InvalidArgumentError('must be a number from 0 to 1.');
  return number;
}

/** The emulator options the command-line options ask for. */
export function emulatorOptions(options: EmulateOptions): EmulatorOptions {
  const lifetime = {
    alternativePayments: options.apTokenLifetime ?? options.tokenLifetime,
    autopay: options.autopayTokenLifetime ?? options.tokenLifetime,
  };
  if (!options.ban && (options.banMaxTokens !== undefined || options.banWindow !== undefined)) {
    throw new UsageError('--no-ban cannot be combined with --ban-max-tokens or --ban-window');
  }
  const result: EmulatorOptions = { host: options.host, port: options.port };
  if (lifetime.alternativePayments !== undefined || lifetime.autopay !== undefined) {
    result.tokenLifetimeSeconds = {
      ...(lifetime.alternativePayments === undefined ? {} : { alternativePayments: lifetime.alternativePayments }),
      ...(lifetime.autopay === undefined ? {} : { autopay: lifetime.autopay }),
    };
  }
  if (options.latency !== undefined) result.latencyMs = options.latency;
  if (options.errorRate !== undefined) result.errorRate = options.errorRate;
  if (options.apRateLimit !== undefined) result.alternativePaymentsRateLimitPerSecond = options.apRateLimit;
  if (options.apApiRateLimit !== undefined) result.alternativePaymentsApiRateLimitPerSecond = options.apApiRateLimit;
  if (options.autopayApiRateLimit !== undefined) result.autopayApiRateLimitPerSecond = options.autopayApiRateLimit;
  if (!options.ban) result.ban = false;
  else if (options.banMaxTokens !== undefined || options.banWindow !== undefined) {
    result.ban = { maxTokens: options.banMaxTokens ?? 20, windowSeconds: options.banWindow ?? 600 };
  }
  return result;
}

/** `'…'` for a POSIX shell. */
function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The banner: URLs, sample credentials, and the lines that point `tokenbroker token` at it. */
export function printBanner(out: Output, emulator: Emulator, sampleClients: readonly EmulatorClient[]): void {
  const [apClient, autopayClient] = sampleClients;
  const knobs = emulator.knobs();
  const ap = ENV_VARS['alternative-payments'];
  const ay = ENV_VARS.autopay;
  const lines = [
    `tokenbroker emulator listening on ${emulator.url}`,
    '',
    'Alternative Payments',
    `  base URL    ${emulator.alternativePaymentsBaseUrl}`,
    `  token       POST ${emulator.alternativePaymentsBaseUrl}/oauth/token`,
    `  API         GET  ${emulator.alternativePaymentsBaseUrl}/customers`,
    `  client      ${apClient.clientId} / ${apClient.clientSecret}   (tokens last ${knobs.tokenLifetimeSeconds.alternativePayments} s)`,
    'Autopay',
    `  token URL   ${emulator.autopayTokenUrl}`,
    `  API base    ${emulator.autopayApiBaseUrl}   (POST …/customer_club/v2/join)`,
    `  client      ${autopayClient.clientId} / ${autopayClient.clientSecret}   (tokens last ${knobs.tokenLifetimeSeconds.autopay} s)`,
    'Control',
    `  GET ${emulator.url}/_emulator/stats   POST …/_emulator/reset   …/_emulator/revoke   …/_emulator/configure`,
    `  ban: ${knobs.ban === false ? 'off' : `more than ${knobs.ban.maxTokens} tokens per client within ${knobs.ban.windowSeconds} s`}`,
    '',
    'Point `tokenbroker token` at it (sample credentials, safe to paste):',
    `  export ${ap.clientId}=${shellQuote(apClient.clientId)}`,
    `  export ${ap.clientSecret}=${shellQuote(apClient.clientSecret)}`,
    `  export ${ap.baseUrl}=${shellQuote(emulator.alternativePaymentsBaseUrl)}`,
    `  export ${ay.clientId}=${shellQuote(autopayClient.clientId)}`,
    `  export ${ay.clientSecret}=${shellQuote(autopayClient.clientSecret)}`,
    `  export ${ay.tokenUrl}=${shellQuote(emulator.autopayTokenUrl)}`,
    `  export ${ay.apiBaseUrl}=${shellQuote(emulator.autopayApiBaseUrl)}`,
    '  tokenbroker token ap && tokenbroker token autopay',
    '',
    'Press Ctrl-C to stop.',
  ];
  for (const line of lines) writeLine(out, line);
}

/** Registers `tokenbroker emulate`. */
export function emulateCommand(program: Command): void {
  program
    .command('emulate')
    .summary('run the offline emulator of both providers until Ctrl-C')
    .description(
      'Runs an HTTP server on loopback that behaves like the Alternative Payments and Autopay token servers ' +
        'and APIs: their wire formats, error bodies, rate limit and the ban for excessive token generation.\n\n' +
        'Prints its URLs, the sample credentials, and the environment lines that point `tokenbroker token` at ' +
        'it; runs until SIGINT (Ctrl-C) or SIGTERM, then closes the server and exits 0. See docs/emulator.md.',
    )
    .option('-p, --port <port>', 'TCP port; 0 picks a free one', integer(0, 65_535), 0)
    .option('--host <host>', 'loopback address to listen on: 127.0.0.1, another 127.x.x.x, ::1 or localhost', '127.0.0.1')
    .option('--token-lifetime <seconds>', 'expires_in of issued tokens, both providers (default: AP 3600, Autopay 86400)', integer(1, 31_536_000))
    .option('--ap-token-lifetime <seconds>', 'expires_in of Alternative Payments tokens (overrides --token-lifetime)', integer(1, 31_536_000))
    .option('--autopay-token-lifetime <seconds>', 'expires_in of Autopay tokens (overrides --token-lifetime)', integer(1, 31_536_000))
    .option('--latency <ms>', 'delay before answering each token request (default 0)', integer(0, 60_000))
    .option('--error-rate <fraction>', 'fraction 0..1 of token requests answered 503 (default 0)', fraction)
    .option('--ap-rate-limit <n>', 'Alternative Payments token requests per second per client before 429; 0 = off (default 5)', integer(0, 1_000_000))
    .option('--ap-api-rate-limit <n>', 'Alternative Payments API calls per second per client before 429; 0 = off (default 5)', integer(0, 100_000))
    .option('--autopay-api-rate-limit <n>', 'Autopay API calls per second per client before 429 with x-ratelimit-*; 0 = off (default 0)', integer(0, 100_000))
    .option('--ban-max-tokens <n>', 'ban a client issued more than n tokens within the ban window (default 20)', integer(1, 1_000_000))
    .option('--ban-window <seconds>', 'length of the ban window (default 600)', integer(1, 31_536_000))
    .option('--no-ban', 'never ban a client')
    .addHelpText('after', '\nExamples:\n  $ tokenbroker emulate --port 8787\n  $ tokenbroker emulate --ap-token-lifetime 10 --ban-max-tokens 5')
    .action(async (options: EmulateOptions, command: Command) => {
      const context = contextOf(command);
      const { io } = context;
      let emulator: Emulator;
      let sampleClients: readonly EmulatorClient[];
      try {
        // Loaded when the command runs: `tokenbroker --help` and the other subcommands never load the emulator.
        const { startEmulator, SAMPLE_CLIENTS } = await import('../../emulator/index.js');
        sampleClients = SAMPLE_CLIENTS;
        emulator = await startEmulator(emulatorOptions(options));
      } catch (error) {
        if (error instanceof UsageError) throw error;
        // The emulator's own validation (a ConfigError) names the bad field.
        if (error instanceof ConfigError) throw new UsageError(error.message);
        const code = (error as { code?: unknown }).code;
        // A listen failure has a system code.
        throw new UsageError(
          typeof code === 'string' ? `cannot listen on ${options.host}:${options.port} (${code})` : error instanceof Error ? error.message : String(error),
        );
      }
      try {
        printBanner(io.stdout, emulator, sampleClients);
        await stopRequested(io.signal);
      } finally {
        await emulator.close();
      }
      writeLine(io.stdout, 'emulator stopped');
      context.exitCode = EXIT.ok;
    });
}
