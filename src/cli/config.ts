/**
 * Provider configuration for the command line: from `TOKENBROKER_*` environment variables, or from a
 * JSON config file (`--config`). Secrets come from an environment variable or a file, never from argv
 * and never inline in the config file (config files get committed, copied and pasted into tickets).
 *
 * Every problem becomes a ConfigError whose paths name what the user wrote (an environment variable,
 * or a field of the file), never a value.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors.js';
import type { Provider } from '../provider.js';
import { alternativePayments, autopay } from '../providers/index.js';

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
  readonly kind: CliProviderKind;
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
// The config file

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const secretSource = {
  /** Name of the environment variable that holds the secret. */
  clientSecretEnv: z.string().regex(ENV_NAME, 'must be an environment variable name').optional(),
  /** Path of a file that holds the secret (relative paths are relative to the config file). */
  clientSecretFile: z.string().min(1, 'must not be empty').optional(),
};

function exactlyOneSecretSource(value: { clientSecretEnv?: string | undefined; clientSecretFile?: string | undefined }, ctx: z.RefinementCtx): void {
  const given = Number(value.clientSecretEnv !== undefined) + Number(value.clientSecretFile !== undefined);
  if (given !== 1) {
    ctx.addIssue({
      code: 'custom',
      path: given === 0 ? ['clientSecretEnv'] : [],
      message: given === 0 ? 'is required (or clientSecretFile): the secret is read from an environment variable or a file' : 'give clientSecretEnv or clientSecretFile, not both',
    });
  }
}

const apFileSchema = z
  .strictObject({
    clientId: z.string().min(1, 'must not be empty'),
    ...secretSource,
    environment: z.enum(['production', 'demo']).optional(),
    baseUrl: z.string().optional(),
  })
  .superRefine(exactlyOneSecretSource);

const autopayFileSchema = z
  .strictObject({
    clientId: z.string().min(1, 'must not be empty'),
    ...secretSource,
    audience: z.string().optional(),
    tokenUrl: z.string().optional(),
    apiBaseUrl: z.string().optional(),
  })
  .superRefine(exactlyOneSecretSource);

/** The config file: `{ "providers": { "ap": {…}, "autopay": {…} } }`. */
export const configFileSchema = z.strictObject({
  $schema: z.string().optional(),
  providers: z.strictObject({ ap: apFileSchema.optional(), autopay: autopayFileSchema.optional() }),
});

/** The parsed config file. */
export type ConfigFile = z.output<typeof configFileSchema>;

// Fields that would hold a secret inline. Refused by name before schema validation, with a hint.
const INLINE_SECRET_FIELDS = ['clientSecret', 'client_secret', 'secret', 'password'];

/** Reads and validates a config file; every problem in one ConfigError. */
export async function readConfigFile(path: string): Promise<ConfigFile> {
  const where = basename(path);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError([{ path: '--config', message: `cannot read ${path} (${systemCode(error)})` }]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    // JSON.parse quotes the text around the error, which may be a secret: keep only the position.
    const position = /(position \d+|line \d+ column \d+)/.exec(error instanceof Error ? error.message : '');
    throw new ConfigError([{ path: where, message: `is not valid JSON${position === null ? '' : ` (at ${position[1]})`}` }]);
  }
  const inline = inlineSecretIssues(raw, where);
  if (inline.length > 0) throw new ConfigError(inline);
  const parsed = configFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({
        path: `${where}: ${issue.path.map(String).join('.') || '(top level)'}`,
        message: issue.code === 'unrecognized_keys' ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}` : issue.message,
      })),
    );
  }
  return parsed.data;
}

function inlineSecretIssues(raw: unknown, where: string): ConfigIssue[] {
  const providers = (raw as { providers?: unknown } | null)?.providers;
  if (typeof providers !== 'object' || providers === null) return [];
  const issues: ConfigIssue[] = [];
  for (const [key, section] of Object.entries(providers)) {
    if (typeof section !== 'object' || section === null) continue;
    for (const field of INLINE_SECRET_FIELDS) {
      if (Object.hasOwn(section, field)) {
        issues.push({
          path: `${where}: providers.${key}.${field}`,
          message:
            'secrets are not accepted inline in a config file; use "clientSecretEnv": "<NAME OF AN ENVIRONMENT VARIABLE>" or "clientSecretFile": "<path>"',
        });
      }
    }
  }
  return issues;
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
 * Builds the provider `kind` from the config file when one is given (the `TOKENBROKER_*` variables are
 * then ignored, so one file fully describes a setup), else from the environment.
 *
 * @throws ConfigError naming every missing or invalid variable or field.
 */
export async function loadProvider(kind: CliProviderKind, options: LoadOptions): Promise<LoadedProvider> {
  return options.configPath === undefined ? loadFromEnv(kind, options.env) : loadFromFile(kind, options.configPath, options.env);
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
    secret = await readSecretFile(file, names.clientSecretFile, issues);
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

async function loadFromFile(
  kind: CliProviderKind,
  configPath: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<LoadedProvider> {
  const file = await readConfigFile(configPath);
  const where = basename(configPath);
  const key = CONFIG_KEY[kind];
  const section = file.providers[key];
  if (section === undefined) {
    throw new ConfigError([{ path: `${where}: providers.${key}`, message: `is missing: ${configPath} does not configure ${kind}` }]);
  }
  const issues: ConfigIssue[] = [];
  let secret: string | undefined;
  if (section.clientSecretEnv !== undefined) {
    const value = env[section.clientSecretEnv];
    if (value === undefined || value === '') {
      issues.push({ path: `${where}: providers.${key}.clientSecretEnv`, message: `names ${section.clientSecretEnv}, which is not set` });
    } else {
      secret = value;
    }
  } else if (section.clientSecretFile !== undefined) {
    const path = resolve(dirname(configPath), section.clientSecretFile);
    secret = await readSecretFile(path, `${where}: providers.${key}.clientSecretFile`, issues);
  }
  if (issues.length > 0 || secret === undefined) throw new ConfigError(issues);
  const prefix = `${where}: providers.${key}`;
  const secretPath = `${prefix}.${section.clientSecretEnv === undefined ? 'clientSecretFile' : 'clientSecretEnv'}`;
  const clientSecret = secret;
  let provider: Provider;
  if (kind === 'alternative-payments') {
    const ap = section as z.output<typeof apFileSchema>;
    provider = build(
      () => alternativePayments({ clientId: ap.clientId, clientSecret, environment: ap.environment, baseUrl: ap.baseUrl }),
      fieldPaths(prefix, ['clientId', 'environment', 'baseUrl'], secretPath),
    );
  } else {
    const ap = section as z.output<typeof autopayFileSchema>;
    provider = build(
      () => autopay({ clientId: ap.clientId, clientSecret, audience: ap.audience, tokenUrl: ap.tokenUrl, apiBaseUrl: ap.apiBaseUrl }),
      fieldPaths(prefix, ['clientId', 'audience', 'tokenUrl', 'apiBaseUrl'], secretPath),
    );
  }
  return { kind, provider, secret, source: where };
}

function fieldPaths(prefix: string, fields: readonly string[], secretPath: string): Record<string, string> {
  const paths: Record<string, string> = { clientSecret: secretPath };
  for (const field of fields) paths[field] = `${prefix}.${field}`;
  return paths;
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

/** The secret in a file, without its trailing newline. Problems are added to `issues`, named by `label`. */
async function readSecretFile(path: string, label: string, issues: ConfigIssue[]): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    issues.push({ path: label, message: `cannot read ${path} (${systemCode(error)})` });
    return undefined;
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret === '') {
    issues.push({ path: label, message: `${path} is empty` });
    return undefined;
  }
  return secret;
}

function systemCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'unreadable';
}
