/**
 * Provider configuration for the command line: from `TOKENBROKER_*` environment variables, or from a
 * JSON config file (`--config`) whose `providers` sections are the broker's (one schema and builder,
 * in src/apps/config-file.ts). Secrets come from an environment variable or a file, never from argv
 * and never inline in the config file (config files get committed, copied and pasted into tickets).
 *
 * Every problem becomes a ConfigError whose paths name what the user wrote (an environment variable,
 * or a field of the file), never a value.
 */
import { basename, dirname } from 'node:path';
import { INLINE_SECRET_MESSAGE, inlineSecrets, loadProviderSection, PROVIDER_ID, readJsonFile, readSecretFile } from '../config-file.js';
import { ConfigError, type ConfigIssue } from '../../base/errors.js';
import { UsageError } from './errors.js';
import type { Provider } from '../../providers/provider.js';
import { alternativePayments, autopay } from '../../providers/index.js';

/** The providers the CLI knows, by the name `tokenbroker token <provider>` takes. */
export type CliProviderKind = 'alternative-payments' | 'autopay';

/** `ap` and `alternative-payments` are one provider; the config file calls it `ap`. */
export const PROVIDER_ALIASES: Readonly<Record<string, CliProviderKind>> = {
  ap: 'alternative-payments',
  'alternative-payments': 'alternative-payments',
  autopay: 'autopay',
};

/** The key of each provider in the config file and in the environment variable names. */
const CONFIG_KEY: Record<CliProviderKind, 'ap' | 'autopay'> = { 'alternative-payments': 'ap', autopay: 'autopay' };

/** A configured provider, with the secret it loaded (so the CLI can scrub it from anything it prints). */
export interface LoadedProvider {
  /** The provider's type: a built-in kind, or `oauth2` from a config file. */
  readonly kind: CliProviderKind | 'oauth2';
  readonly provider: Provider;
  readonly secret: string;
  /** Where the configuration came from, for hints: `environment` or the config file's name. */
  readonly source: string;
}

/** The environment variables read for each provider, in the order `docs/cli.md` lists them. */
export const ENV_VARS = {
  'alternative-payments': {
    clientId: 'TOKENBROKER_AP_CLIENT_ID',
    clientSecret: 'TOKENBROKER_AP_CLIENT_SECRET',
    clientSecretFile: 'TOKENBROKER_AP_CLIENT_SECRET_FILE',
    environment: 'TOKENBROKER_AP_ENVIRONMENT',
    baseUrl: 'TOKENBROKER_AP_BASE_URL',
  },
  autopay: {
    clientId: 'TOKENBROKER_AUTOPAY_CLIENT_ID',
    clientSecret: 'TOKENBROKER_AUTOPAY_CLIENT_SECRET',
    clientSecretFile: 'TOKENBROKER_AUTOPAY_CLIENT_SECRET_FILE',
    audience: 'TOKENBROKER_AUTOPAY_AUDIENCE',
    tokenUrl: 'TOKENBROKER_AUTOPAY_TOKEN_URL',
    apiBaseUrl: 'TOKENBROKER_AUTOPAY_API_BASE_URL',
  },
} as const;

// ---------------------------------------------------------------------------------------------------
// The config file: the same `providers` sections as the broker's (src/apps/config-file.ts), so one file can
// serve both. The command reads only `providers`; the broker's other sections are allowed and ignored.

/** The type a section keyed `ap` or `autopay` has when it does not say (config files of 0.1). */
const TYPE_BY_KEY: Readonly<Record<string, string>> = { ap: 'alternative-payments', autopay: 'autopay' };

/** Top-level sections the broker reads and the command ignores. */
const BROKER_SECTIONS = ['listen', 'ops', 'stateDir', 'audit', 'store', 'consumers', 'limits', 'tokens', 'logLevel', 'tls'];

/** Reads a config file: its `providers` sections, unvalidated (each is validated when it is used). Problems → ConfigError. */
export async function readConfigFile(path: string): Promise<Readonly<Record<string, unknown>>> {
  const where = basename(path);
  const raw = readJsonFile(path);
  const inline = inlineSecrets(raw);
  if (inline.length > 0) {
    throw new ConfigError(inline.map(({ id, field }) => ({ path: `${where}: providers.${id}.${field}`, message: INLINE_SECRET_MESSAGE })));
  }
  const issues: ConfigIssue[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError([{ path: `${where}: (top level)`, message: 'must be an object' }]);
  }
  const unknown = Object.keys(raw).filter((key) => key !== '$schema' && key !== 'providers' && !BROKER_SECTIONS.includes(key));
  if (unknown.length > 0) issues.push({ path: `${where}: (top level)`, message: `has unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}` });
  const providers = (raw as { providers?: unknown }).providers;
  if (typeof providers !== 'object' || providers === null || Array.isArray(providers)) {
    issues.push({ path: `${where}: providers`, message: 'is required: an object of provider sections' });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return providers as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------------
// Loading one provider

/** Options of {@link loadProvider}. */
export interface LoadOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** A config file to read instead of the `TOKENBROKER_*` variables. */
  readonly configPath?: string | undefined;
}

/**
 * Builds the provider `kind` (`ap`, `alternative-payments`, `autopay`, or any provider id of the config
 * file) from the config file when one is given (the `TOKENBROKER_*` variables are then ignored, so one
 * file fully describes a setup), else from the environment.
 *
 * @throws ConfigError naming every missing or invalid variable or field.
 */
export async function loadProvider(kind: string, options: LoadOptions): Promise<LoadedProvider> {
  const builtIn = PROVIDER_ALIASES[kind.toLowerCase()];
  if (builtIn !== undefined) {
    return options.configPath === undefined ? loadFromEnv(builtIn, options.env) : loadFromFile(builtIn, options.configPath, options.env);
  }
  // Any other id: a provider section of the config file (oauth2 included), the broker's schema and builder.
  if (options.configPath === undefined) {
    throw new UsageError(
      `unknown provider ${nameForMessage(kind)}; use ap (alias alternative-payments) or autopay, or give --config <file> with a provider of that id`,
    );
  }
  const loaded = await loadConfiguredProvider(kind, { env: options.env, configPath: options.configPath });
  return { kind: loaded.type, provider: loaded.provider, secret: loaded.secret, source: loaded.source };
}

async function loadFromEnv(kind: CliProviderKind, env: Readonly<Record<string, string | undefined>>): Promise<LoadedProvider> {
  const names = ENV_VARS[kind];
  const read = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value === '' ? undefined : value;
  };
  const issues: ConfigIssue[] = [];
  const clientId = read(names.clientId);
  if (clientId === undefined) issues.push({ path: names.clientId, message: 'is not set' });
  const inline = read(names.clientSecret);
  const file = read(names.clientSecretFile);
  let secret: string | undefined;
  if (inline !== undefined && file !== undefined) {
    issues.push({ path: names.clientSecret, message: `set it or ${names.clientSecretFile}, not both` });
  } else if (inline !== undefined) {
    secret = inline;
  } else if (file !== undefined) {
    secret = readSecretFile(file, (message) => issues.push({ path: names.clientSecretFile, message }));
  } else {
    issues.push({ path: names.clientSecret, message: `is not set (or set ${names.clientSecretFile} to a file that holds the secret)` });
  }
  if (issues.length > 0 || clientId === undefined || secret === undefined) throw new ConfigError(issues);

  if (kind === 'alternative-payments') {
    const n = ENV_VARS['alternative-payments'];
    const environment = read(n.environment);
    if (environment !== undefined && environment !== 'production' && environment !== 'demo') {
      throw new ConfigError([{ path: n.environment, message: 'must be "production" or "demo"' }]);
    }
    const provider = build(() => alternativePayments({ clientId, clientSecret: secret, environment, baseUrl: read(n.baseUrl) }), {
      clientId: n.clientId,
      clientSecret: n.clientSecret,
      environment: n.environment,
      baseUrl: n.baseUrl,
    });
    return { kind, provider, secret, source: 'environment' };
  }
  const n = ENV_VARS.autopay;
  const provider = build(
    () => autopay({ clientId, clientSecret: secret, audience: read(n.audience), tokenUrl: read(n.tokenUrl), apiBaseUrl: read(n.apiBaseUrl) }),
    { clientId: n.clientId, clientSecret: n.clientSecret, audience: n.audience, tokenUrl: n.tokenUrl, apiBaseUrl: n.apiBaseUrl },
  );
  return { kind, provider, secret, source: 'environment' };
}

async function loadFromFile(kind: CliProviderKind, configPath: string, env: Readonly<Record<string, string | undefined>>): Promise<LoadedProvider> {
  const loaded = await loadConfiguredProvider(CONFIG_KEY[kind], { env, configPath });
  if (loaded.type !== kind) {
    const where = basename(configPath);
    throw new ConfigError([
      { path: `${where}: providers.${CONFIG_KEY[kind]}.type`, message: `is ${loaded.type}; \`tokenbroker token ${CONFIG_KEY[kind]}\` needs ${kind}` },
    ]);
  }
  return { kind, provider: loaded.provider, secret: loaded.secret, source: loaded.source };
}

/** A provider of a config file, any type (`oauth2` included), by its id in `providers`. */
export interface ConfiguredProvider {
  readonly id: string;
  readonly type: 'alternative-payments' | 'autopay' | 'oauth2';
  readonly provider: Provider;
  readonly secret: string;
  /** The config file's name, for hints. */
  readonly source: string;
}

/**
 * Builds the provider `providers.<id>` of a config file — the same section, schema and builder as the
 * broker's. Sections keyed `ap` and `autopay` may leave out `type` (0.1 files).
 * @throws ConfigError naming every problem by its field (`tb.json: providers.idp.tokenUrl`).
 */
export async function loadConfiguredProvider(
  id: string,
  options: { readonly env: Readonly<Record<string, string | undefined>>; readonly configPath: string },
): Promise<ConfiguredProvider> {
  const { configPath, env } = options;
  const providers = await readConfigFile(configPath);
  const where = basename(configPath);
  const prefix = `${where}: providers.${id}`;
  if (!PROVIDER_ID.test(id)) throw new ConfigError([{ path: 'provider', message: 'must be 1–64 letters, digits or . _ -' }]);
  const raw = Object.hasOwn(providers, id) ? providers[id] : undefined;
  if (raw === undefined) {
    const ids = Object.keys(providers);
    throw new ConfigError([
      { path: prefix, message: `is missing: ${configPath} does not configure ${id} (it configures ${ids.length === 0 ? 'no provider' : ids.join(', ')})` },
    ]);
  }
  const section =
    typeof raw === 'object' && raw !== null && !Object.hasOwn(raw, 'type') && TYPE_BY_KEY[id] !== undefined ? { type: TYPE_BY_KEY[id], ...raw } : raw;
  const issues: ConfigIssue[] = [];
  const loaded = loadProviderSection(section, { env, baseDir: dirname(configPath) }, (field, message) =>
    issues.push({ path: field.length === 0 ? prefix : `${prefix}.${field.map(String).join('.')}`, message }),
  );
  if (loaded === undefined || issues.length > 0) throw new ConfigError(issues);
  return { id, type: loaded.section.type, provider: loaded.provider, secret: loaded.secret, source: where };
}

/**
 * Calls a provider factory, renaming the paths of its ConfigError (`alternativePayments.baseUrl`) to
 * what the user wrote (`TOKENBROKER_AP_BASE_URL`, `tb.json: providers.ap.baseUrl`).
 */
function build(factory: () => Provider, paths: Record<string, string>): Provider {
  try {
    return factory();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(
      error.issues.map((issue) => {
        const field = issue.path.split('.').slice(1).join('.');
        return { path: paths[field] ?? issue.path, message: issue.message };
      }),
    );
  }
}

/**
 * How a message names a provider id the user typed: quoted when it is short, as ids are (`"stripe"`);
 * a long value is described, not repeated — it may be a secret pasted in the wrong place.
 */
export function nameForMessage(value: string): string {
  return PROVIDER_ID.test(value) && value.length <= 24 ? JSON.stringify(value) : `(a ${value.length}-character value, not repeated here: it may be a secret)`;
}
