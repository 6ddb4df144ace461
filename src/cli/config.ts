/**
 * Provider configuration for the command line: from `TOKENBROKER_*` environment variables, or from a
 * JSON config file (`--config`). Secrets come from an environment variable or a file, never from argv
 * and never inline in the config file (config files get committed, copied and pasted into tickets).
 *
 * Every problem becomes a ConfigError whose paths name what the user wrote (an environment variable,
 * or a field of the file), never a value.
 */
import { basename, dirname } from 'node:path';
import { z } from 'zod';
import {
  INLINE_SECRET_MESSAGE,
  inlineSecrets,
  readJsonFile,
  readSecretFile,
  readSecretSource,
  SECRET_SOURCE_MISSING,
  SECRET_SOURCE_TWICE,
  secretSourceFields,
} from '../config-file.js';
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

function exactlyOneSecretSource(value: { clientSecretEnv?: string | undefined; clientSecretFile?: string | undefined }, ctx: z.RefinementCtx): void {
  const given = Number(value.clientSecretEnv !== undefined) + Number(value.clientSecretFile !== undefined);
  if (given !== 1) {
    ctx.addIssue({
      code: 'custom',
      path: given === 0 ? ['clientSecretEnv'] : [],
      message: given === 0 ? SECRET_SOURCE_MISSING : SECRET_SOURCE_TWICE,
    });
  }
}

const apFileSchema = z
  .strictObject({
    clientId: z.string().min(1, 'must not be empty'),
    ...secretSourceFields,
    environment: z.enum(['production', 'demo']).optional(),
    baseUrl: z.string().optional(),
  })
  .superRefine(exactlyOneSecretSource);

const autopayFileSchema = z
  .strictObject({
    clientId: z.string().min(1, 'must not be empty'),
    ...secretSourceFields,
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

/** Reads and validates a config file; every problem in one ConfigError. */
export async function readConfigFile(path: string): Promise<ConfigFile> {
  const where = basename(path);
  const raw = readJsonFile(path);
  const inline = inlineSecrets(raw);
  if (inline.length > 0) {
    throw new ConfigError(inline.map(({ id, field }) => ({ path: `${where}: providers.${id}.${field}`, message: INLINE_SECRET_MESSAGE })));
  }
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
  const prefix = `${where}: providers.${key}`;
  const issues: ConfigIssue[] = [];
  const secret = readSecretSource(section, { env, baseDir: dirname(configPath) }, (field, message) =>
    issues.push({ path: field === undefined ? prefix : `${prefix}.${field}`, message }),
  );
  if (issues.length > 0 || secret === undefined) throw new ConfigError(issues);
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
