/**
 * `tokenbroker token <provider>`: one access token, printed as JSON, masked unless asked otherwise.
 * Tokens are kept in a per-user cache file (see cache-path.ts), so a script that runs the command
 * again and again makes one token request per token lifetime, not one per run.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { TokenError } from '../../../base/errors.js';
import type { SqliteTokenStore } from '../../../stores/sqlite/index.js';
import type { Token } from '../../../base/token.js';
import { PROVIDER_ID } from '../../config-file.js';
import { ENV_VARS, loadProvider, PROVIDER_ALIASES, type CliProviderKind } from '../config.js';
import { contextOf, writeLine } from '../context.js';
import { EXIT, InterruptedError } from '../errors.js';
import { maskToken } from '../mask.js';

export { maskToken } from '../mask.js';

interface TokenCommandOptions {
  config?: string;
  showToken?: boolean;
  timeout: number;
  /** False with `--no-cache`. */
  cache: boolean;
}

/** What `tokenbroker token` prints. */
export interface TokenOutput {
  /** `alternative-payments`, `autopay`, or the provider id of the --config file. */
  provider: string;
  tokenType: 'Bearer';
  /** ISO 8601. */
  expiresAt: string;
  /** Seconds from now, rounded down. */
  expiresIn: number;
  scope?: string;
  /** Masked (`abcd…(56 chars)`) unless `--show-token`. */
  accessToken: string;
  /** True when the token came from the per-user cache: this run sent no token request. */
  fromCache: boolean;
}

/** Builds the printed JSON object. */
export function tokenOutput(kind: string, token: Token, showToken: boolean, now = Date.now(), fromCache = false): TokenOutput {
  return {
    provider: kind,
    tokenType: token.tokenType,
    expiresAt: new Date(token.expiresAt).toISOString(),
    expiresIn: Math.max(0, Math.floor((token.expiresAt - now) / 1000)),
    ...(token.scope === undefined ? {} : { scope: token.scope }),
    accessToken: showToken ? token.accessToken : maskToken(token.accessToken),
    fromCache,
  };
}

function parseProvider(value: string): string {
  // Any other provider id is looked up in the --config file (oauth2 sections included).
  const kind = PROVIDER_ALIASES[value.toLowerCase()] ?? (PROVIDER_ID.test(value) ? value : undefined);
  // The value is not echoed: a secret pasted in the wrong place must not be printed back.
  if (kind === undefined)
    throw new InvalidArgumentError(
      'unknown provider: it is not a provider id (1–64 letters, digits or . _ -), so it is not repeated here; use ap (alias alternative-payments), autopay, or a provider id of the --config file.',
    );
  return kind;
}

function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(seconds > 0) || seconds > 600) throw new InvalidArgumentError('must be a number of seconds, above 0 and at most 600.');
  return seconds;
}

/** The environment variables, for `token --help`. */
function envHelp(): string {
  const ap = ENV_VARS['alternative-payments'];
  const ay = ENV_VARS.autopay;
  const rows = (title: string, entries: Array<[string, string]>) => [title, ...entries.map(([name, text]) => `  ${name.padEnd(40)}${text}`)].join('\n');
  return [
    rows('Environment (Alternative Payments):', [
      [ap.clientId, 'client id (required)'],
      [ap.clientSecret, 'client secret, or:'],
      [ap.clientSecretFile, 'path of a file that holds the secret'],
      [ap.environment, 'production (default) or demo'],
      [ap.baseUrl, "overrides the environment's base URL"],
    ]),
    rows('Environment (Autopay):', [
      [ay.clientId, 'client id (required)'],
      [ay.clientSecret, 'client secret, or:'],
      [ay.clientSecretFile, 'path of a file that holds the secret'],
      [ay.audience, 'default https://api.autopay.io'],
      [ay.tokenUrl, 'default https://api-auth.autopay.io/oauth/token'],
      [ay.apiBaseUrl, 'default https://api.autopay.io'],
    ]),
  ].join('\n\n');
}

/** Registers `tokenbroker token`. */
export function tokenCommand(program: Command): void {
  program
    .command('token')
    .summary('fetch one access token and print it as JSON (masked)')
    .description(
      'Fetches one OAuth 2.0 client-credentials access token from Alternative Payments or Autopay and prints ' +
        'it as JSON: { provider, tokenType, expiresAt, expiresIn, scope?, accessToken, fromCache }. The token is masked ' +
        'unless --show-token is given.\n\n' +
        'Tokens are cached per user in $XDG_CACHE_HOME/tokenbroker/tokens.sqlite (else ~/.cache/tokenbroker/): ' +
        "runs within a token's life reuse it, and one nearing its end is replaced. --no-cache fetches a new one " +
        'every run; `tokenbroker cache` lists or clears the cache.\n\n' +
        'Configuration comes from TOKENBROKER_* environment variables, or from a JSON file given with --config. ' +
        'Secrets are read from an environment variable or a file, never from the command line.',
    )
    .argument('<provider>', 'ap (alias alternative-payments), autopay, or a provider id of the --config file', parseProvider)
    .option('-c, --config <file>', 'read the configuration from this JSON file instead of TOKENBROKER_* variables')
    .option('--show-token', 'print the access token in full (it is a credential: mind where the output goes)')
    .option('--timeout <seconds>', 'time limit of each token request attempt', parseSeconds, 10)
    .option('--no-cache', 'neither read nor write the per-user token cache: every run requests a new token')
    .addHelpText(
      'after',
      `
${envHelp()}

Exit codes: 0 ok, 1 other failure, 2 configuration error, 3 invalid credentials,
4 provider unavailable, rate-limited or issuance budget spent.

Examples:
  $ tokenbroker token ap
  $ tokenbroker token autopay --config tokenbroker.json
  $ tokenbroker token ap --no-cache
  $ curl -H "Authorization: Bearer $(tokenbroker token ap --show-token | jq -r .accessToken)" …`,
    )
    .action(async (kind: string, options: TokenCommandOptions, command: Command) => {
      const context = contextOf(command);
      const { io } = context;
      // The cache's Node.js check comes first: on a Node.js that cannot keep it, nothing else is done.
      const cache = await import('../token-cache.js');
      if (options.cache) cache.requireTokenCacheRuntime();
      else if (cache.nodeTooOld())
        writeLine(
          io.stderr,
          `tokenbroker: warning: Node.js ${process.version} is older than tokenbroker supports (${cache.MIN_NODE_VERSION}); running without the token cache, as --no-cache asks`,
        );
      const loaded = await loadProvider(kind, { env: io.env, configPath: options.config });
      context.secrets.add(loaded.secret);
      // Loaded here, not at the top: `--help` and the other commands never pay for them.
      const { createTokenManager } = await import('../../../core/manager.js');
      let store: SqliteTokenStore | undefined;
      if (options.cache) ({ store } = await cache.openTokenCache(io, { create: true }));
      const tokens = createTokenManager({
        providers: { [kind]: loaded.provider },
        timeoutMs: Math.round(options.timeout * 1000),
        // One command, one request: a failure is reported now rather than remembered for later callers.
        invalidCredentialsCooldownMs: 0,
        failureCooldownMs: 0,
        ...(store === undefined ? {} : { store }),
      });
      const signal = io.signal === undefined ? {} : { signal: io.signal };
      try {
        let token: Token;
        try {
          token = await tokens.getToken(kind, signal);
          if (store !== undefined && (await dueForRefresh(token)))
            token = await refreshAhead(() => tokens.getToken(kind, { ...signal, forceRefresh: true }), token);
        } catch (error) {
          if (io.signal?.aborted === true && !(error instanceof TokenError)) {
            throw new InterruptedError('interrupted before a token arrived');
          }
          if (error instanceof TokenError && error.code === 'invalid_credentials') {
            error.message +=
              loaded.source === 'environment'
                ? ` (check ${ENV_VARS[kind as CliProviderKind].clientId} and ${ENV_VARS[kind as CliProviderKind].clientSecret})`
                : ` (check the client id and secret that ${loaded.source} points to)`;
          }
          throw error;
        }
        // No token issued to this run: it came from the cache (a failed refresh-ahead included).
        const fromCache = tokens.stats().tokensIssued.total === 0;
        writeLine(io.stdout, JSON.stringify(tokenOutput(kind, token, options.showToken === true, Date.now(), fromCache), null, 2));
        context.exitCode = EXIT.ok;
      } finally {
        await tokens.close();
      }
    });
}

/**
 * Whether a cached token is in its refresh-ahead window (by the library's default timing). A
 * long-running app would refresh it in the background; a command that exits at once replaces it now,
 * so a script never gets a token about to expire.
 */
async function dueForRefresh(token: Token): Promise<boolean> {
  const [{ resolveOptions }, { tokenTimes }] = await Promise.all([import('../../../core/options.js'), import('../../../base/token.js')]);
  const { skewMs, refreshAheadRatio, refreshAheadMinMs } = resolveOptions({});
  return Date.now() >= tokenTimes(token, { skewMs, refreshAheadRatio, refreshAheadMinMs }).refreshAt;
}

/** The new token; if the provider fails, the cached one, still usable, as the library would serve it. */
async function refreshAhead(refresh: () => Promise<Token>, current: Token): Promise<Token> {
  try {
    return await refresh();
  } catch (error) {
    if (error instanceof TokenError) return current;
    throw error;
  }
}
