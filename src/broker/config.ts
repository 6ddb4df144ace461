/**
 * The broker's config file: its schema (zod), and loading it into what the server needs — providers
 * with their secrets read from environment variables or files, the store, the consumers with their key
 * digests, the limits.
 *
 * Every problem in the file becomes one issue of one ConfigError, each naming the field (never its
 * value: a value may be a secret typed in the wrong place). Secrets are never accepted inline.
 */
import { basename, dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ENV_NAME, hasInlineSecret, INLINE_SECRET_MESSAGE, inlineSecrets, readJsonFile, readSecretSource, secretSourceFields } from '../config-file.js';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { durationMs } from '../validate.js';
import type { TokenManagerOptions } from '../options.js';
import type { Provider } from '../provider.js';
import { alternativePayments, autopay, oauth2 } from '../providers/index.js';

/** Provider ids appear in URLs (`/v1/tokens/:provider`) and metric labels. */
const PROVIDER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const envName = z.string().regex(ENV_NAME, 'must be an environment variable name');
const optionalString = z.string().min(1).optional();


const alternativePaymentsSchema = z.strictObject({
  type: z.literal('alternative-payments'),
  clientId: z.string().min(1),
  ...secretSourceFields,
  environment: z.enum(['production', 'demo']).optional(),
  baseUrl: optionalString,
});

const autopaySchema = z.strictObject({
  type: z.literal('autopay'),
  clientId: z.string().min(1),
  ...secretSourceFields,
  audience: optionalString,
  tokenUrl: optionalString,
  apiBaseUrl: optionalString,
});

const oauth2Schema = z.strictObject({
  type: z.literal('oauth2'),
  clientId: z.string().min(1),
  ...secretSourceFields,
  tokenUrl: optionalString,
  issuer: optionalString,
  scope: optionalString,
  audience: optionalString,
  resource: optionalString,
  authMethod: z.enum(['client_secret_basic', 'client_secret_post']).optional(),
  apiBaseUrl: optionalString,
});

const providerSchema = z.discriminatedUnion('type', [alternativePaymentsSchema, autopaySchema, oauth2Schema], {
  error: 'must be "alternative-payments", "autopay" or "oauth2"',
});

const storeSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('memory') }),
    z.strictObject({
      type: z.literal('redis'),
      /** `redis://host:port[/db]`; a URL with a password belongs in `urlEnv`. */
      url: optionalString,
      /** Name of the environment variable that holds the Redis URL (it may carry a password). */
      urlEnv: envName.optional(),
      keyPrefix: z.string().max(256).optional(),
      /** Name of the environment variable that holds the encryption keys, comma-separated (base64, 32 bytes each). */
      encryptionKeysEnv: envName.optional(),
    }),
  ],
  { error: 'must be "memory" or "redis"' },
);

const consumerSchema = z.strictObject({
  /** Shown in the access log and metrics: who asked. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'must be 1–64 letters, digits or . _ @ -'),
  /** SHA-256 of the consumer's API key, hex. */
  keySha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be the SHA-256 of the key: 64 hex characters'),
  /** Provider ids this consumer may get tokens for. */
  providers: z.array(z.string()).min(1, 'must list at least one provider id'),
});

const duration = durationMs.min(1);

const tokensSchema = z.strictObject({
  timeoutMs: duration.optional(),
  skewMs: durationMs.optional(),
  retry: z
    .strictObject({
      attempts: z.number().int().min(1).max(10).optional(),
      baseDelayMs: durationMs.optional(),
      maxDelayMs: durationMs.optional(),
    })
    .optional(),
  guard: z.strictObject({ maxTokens: z.number().int().min(1).optional(), windowMs: duration.optional() }).optional(),
  invalidCredentialsCooldownMs: durationMs.optional(),
  failureCooldownMs: durationMs.optional(),
});

const limitsSchema = z.strictObject({
  /** Largest request body accepted (the API takes none); default 1 024. */
  bodyLimitBytes: z.number().int().min(0).max(1_048_576).optional(),
  /** Largest request head (request line and headers); default 16 384 (Node's own default). */
  maxHeaderBytes: z.number().int().min(1024).max(1_048_576).optional(),
  /** Longest a request may take, receiving it and getting the token included; default 10 000. */
  requestTimeoutMs: z.number().int().min(100).max(600_000).optional(),
});

const listenSchema = z.strictObject({
  host: z.string().min(1).optional(),
  port: z.number().int().min(0).max(65_535).optional(),
});

/** Top level: each section is checked on its own below, so one bad section does not hide the others' problems. */
const topSchema = z.strictObject({
  $schema: z.string().optional(),
  listen: z.unknown().optional(),
  providers: z.record(z.string(), z.unknown()),
  store: z.unknown().optional(),
  consumers: z.array(z.unknown()).min(1, 'must list at least one consumer'),
  limits: z.unknown().optional(),
  tokens: z.unknown().optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
});

/** The config file, as written (see docs/broker.md for a complete example). */
export interface BrokerConfig {
  readonly $schema?: string;
  readonly listen?: { readonly host?: string; readonly port?: number };
  readonly providers: Readonly<Record<string, ProviderConfig>>;
  readonly store?: StoreConfig;
  readonly consumers: readonly ConsumerConfig[];
  readonly limits?: z.input<typeof limitsSchema>;
  /** Token manager options: timeouts, retries, the issuance guard, cool-downs. */
  readonly tokens?: z.input<typeof tokensSchema>;
  /** Log level of the broker's JSON log (default `info`: one access-log line per request). */
  readonly logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

/** One provider of the config file. */
export type ProviderConfig = z.input<typeof providerSchema>;
/** The store section of the config file. */
export type StoreConfig = z.input<typeof storeSchema>;
/** One consumer of the config file. */
export type ConsumerConfig = z.input<typeof consumerSchema>;

/** A consumer, ready for authentication. */
export interface Consumer {
  readonly name: string;
  /** SHA-256 of its key. */
  readonly digest: Buffer;
  readonly providers: ReadonlySet<string>;
}

/** The store to build. Holds the Redis URL, which may carry a password: never logged. */
export type ResolvedStore =
  | { readonly type: 'memory' }
  | { readonly type: 'redis'; readonly url: string; readonly keyPrefix: string | undefined; readonly encryptionKeys: string[] | undefined };

/** Everything the server needs, validated, with secrets loaded. */
export interface ResolvedBrokerConfig {
  readonly listen: { readonly host: string; readonly port: number };
  readonly providers: ReadonlyMap<string, Provider>;
  readonly store: ResolvedStore;
  readonly consumers: readonly Consumer[];
  readonly limits: { readonly bodyLimitBytes: number; readonly maxHeaderBytes: number; readonly requestTimeoutMs: number };
  readonly tokens: Omit<TokenManagerOptions, 'providers' | 'store' | 'logger'>;
  readonly logLevel: string;
  /** Every secret loaded (client secrets, the Redis URL's password): scrubbed from anything printed. */
  readonly secrets: readonly string[];
}

/** Where secrets and relative paths come from. */
export interface LoadContext {
  /** Environment variables (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Directory relative `clientSecretFile` paths start from (default: the current directory). */
  readonly baseDir?: string;
  /** Prefix of every issue path, e.g. the config file's name. */
  readonly source?: string;
}

export const DEFAULT_LIMITS = Object.freeze({ bodyLimitBytes: 1024, maxHeaderBytes: 16_384, requestTimeoutMs: 10_000 });

// Fields that would hold a secret inline: refused by name, before the schema, with a hint.
const INLINE_KEY_FIELDS = ['key', 'apiKey', 'api_key', 'token'];

/** Reads and parses a config file (JSON). Problems → ConfigError. */
export function readBrokerConfigFile(path: string): unknown {
  return readJsonFile(path);
}

/**
 * Validates a config object and loads its secrets.
 * @throws {@link ConfigError} listing every problem found, each naming its field.
 */
export function resolveBrokerConfig(raw: unknown, load: LoadContext = {}): ResolvedBrokerConfig {
  const env = load.env ?? process.env;
  const baseDir = load.baseDir ?? process.cwd();
  const issues: ConfigIssue[] = [];
  const at = (path: readonly PropertyKey[]): string => {
    const joined = path.map(String).join('.') || '(top level)';
    return load.source === undefined ? joined : `${load.source}: ${joined}`;
  };
  const add = (path: readonly PropertyKey[], message: string) => issues.push({ path: at(path), message });
  const check = <S extends z.ZodType>(schema: S, value: unknown, path: readonly PropertyKey[]): z.output<S> | undefined => {
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) add([...path, ...issue.path], describe(issue));
    return undefined;
  };

  inlineSecretIssues(raw, add);
  const top = check(topSchema, raw, []);
  if (top === undefined) {
    // The sections that are there still get checked, so the user sees every problem at once.
    if (typeof raw !== 'object' || raw === null) throw new ConfigError(issues);
  }
  const source = (top ?? raw) as Record<string, unknown>;

  const listen = check(listenSchema, source.listen ?? {}, ['listen']);
  const limits = check(limitsSchema, source.limits ?? {}, ['limits']);
  const tokens = check(tokensSchema, source.tokens ?? {}, ['tokens']);

  // Providers: schema, secret, then the factory's own checks (URL policy…), renamed to the file's paths.
  const providers = new Map<string, Provider>();
  const secrets: string[] = [];
  const providerSections = typeof source.providers === 'object' && source.providers !== null ? (source.providers as Record<string, unknown>) : {};
  for (const [id, section] of Object.entries(providerSections)) {
    const path = ['providers', id];
    if (!PROVIDER_ID.test(id)) add(path, 'provider ids must be 1–64 letters, digits or . _ - (they appear in URLs)');
    if (hasInlineSecret(section)) continue;
    const parsed = check(providerSchema, section, path);
    if (parsed === undefined) continue;
    const secret = readSecretSource(parsed, { env, baseDir }, (field, message) => add(field === undefined ? path : [...path, field], message));
    if (secret === undefined) continue;
    secrets.push(secret);
    const provider = buildProvider(parsed, secret, path, add);
    if (provider !== undefined) providers.set(id, provider);
  }

  const store = resolveStore(source.store, env, add, check, secrets);

  const consumers: Consumer[] = [];
  const names = new Set<string>();
  const digests = new Set<string>();
  const consumerList = Array.isArray(source.consumers) ? (source.consumers as unknown[]) : [];
  consumerList.forEach((entry, index) => {
    const path = ['consumers', index];
    const consumer = check(consumerSchema, entry, path);
    if (consumer === undefined) return;
    if (names.has(consumer.name)) add([...path, 'name'], 'is used by another consumer');
    names.add(consumer.name);
    const digest = consumer.keySha256.toLowerCase();
    if (digests.has(digest)) add([...path, 'keySha256'], 'is the same key as another consumer\'s: each consumer needs its own key');
    digests.add(digest);
    consumer.providers.forEach((id, i) => {
      if (!Object.hasOwn(providerSections, id)) add([...path, 'providers', i], `names no provider of this file (${describeId(id)})`);
    });
    consumers.push({ name: consumer.name, digest: Buffer.from(digest, 'hex'), providers: new Set(consumer.providers) });
  });

  if (issues.length > 0 || listen === undefined || limits === undefined || tokens === undefined || store === undefined || top === undefined) {
    throw new ConfigError(issues.length > 0 ? issues : [{ path: at([]), message: 'is invalid' }]);
  }
  return {
    listen: { host: listen.host ?? '127.0.0.1', port: listen.port ?? 8080 },
    providers,
    store,
    consumers,
    limits: { ...DEFAULT_LIMITS, ...definedOnly(limits) },
    tokens: definedOnly(tokens),
    logLevel: top.logLevel ?? 'info',
    secrets,
  };
}

function describeId(id: string): string {
  return PROVIDER_ID.test(id) ? JSON.stringify(id) : 'not a valid provider id';
}

type Add = (path: readonly PropertyKey[], message: string) => void;

function inlineSecretIssues(raw: unknown, add: Add): void {
  if (typeof raw !== 'object' || raw === null) return;
  const { consumers, store } = raw as Record<string, unknown>;
  for (const { id, field } of inlineSecrets(raw)) add(['providers', id, field], INLINE_SECRET_MESSAGE);
  if (Array.isArray(consumers)) {
    consumers.forEach((consumer: unknown, index) => {
      if (typeof consumer !== 'object' || consumer === null) return;
      for (const field of INLINE_KEY_FIELDS) {
        if (Object.hasOwn(consumer, field)) {
          add(['consumers', index, field], 'API keys are not accepted in the config file; give "keySha256": the SHA-256 of the key, hex (printf %s "$KEY" | sha256sum)');
        }
      }
    });
  }
  if (typeof store === 'object' && store !== null && typeof (store as { url?: unknown }).url === 'string') {
    if (urlHasPassword((store as { url: string }).url)) {
      add(['store', 'url'], 'holds a password; put the whole URL in an environment variable and name it in "urlEnv"');
    }
  }
}

function urlHasPassword(value: string): boolean {
  try {
    return new URL(value).password !== '';
  } catch {
    return false;
  }
}

function buildProvider(section: z.output<typeof providerSchema>, clientSecret: string, path: readonly PropertyKey[], add: Add): Provider | undefined {
  try {
    switch (section.type) {
      case 'alternative-payments':
        return alternativePayments({ clientId: section.clientId, clientSecret, environment: section.environment, baseUrl: section.baseUrl });
      case 'autopay':
        return autopay({ clientId: section.clientId, clientSecret, audience: section.audience, tokenUrl: section.tokenUrl, apiBaseUrl: section.apiBaseUrl });
      case 'oauth2':
        return oauth2({
          clientId: section.clientId,
          clientSecret,
          tokenUrl: section.tokenUrl,
          issuer: section.issuer,
          scope: section.scope,
          audience: section.audience,
          resource: section.resource,
          authMethod: section.authMethod,
          apiBaseUrl: section.apiBaseUrl,
        });
    }
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // `alternativePayments.baseUrl` → `providers.ap.baseUrl`; the secret is named by where it came from.
    for (const issue of error.issues) {
      const field = issue.path.split('.').slice(1).join('.');
      const named = field === 'clientSecret' ? (section.clientSecretEnv === undefined ? 'clientSecretFile' : 'clientSecretEnv') : field;
      add(named === '' ? path : [...path, named], issue.message);
    }
    return undefined;
  }
}

function resolveStore(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  add: Add,
  check: <S extends z.ZodType>(schema: S, value: unknown, path: readonly PropertyKey[]) => z.output<S> | undefined,
  secrets: string[],
): ResolvedStore | undefined {
  const store = check(storeSchema, value ?? { type: 'memory' }, ['store']);
  if (store === undefined) return undefined;
  if (store.type === 'memory') return store;
  let url: string | undefined;
  if ((store.url === undefined) === (store.urlEnv === undefined)) {
    add(['store'], 'give exactly one of url and urlEnv');
  } else if (store.url !== undefined) {
    url = store.url;
  } else {
    url = env[store.urlEnv!];
    if (url === undefined || url === '') {
      add(['store', 'urlEnv'], `names ${store.urlEnv}, which is not set`);
      url = undefined;
    }
  }
  if (url !== undefined) {
    let valid: boolean;
    try {
      const parsed = new URL(url);
      valid = (parsed.protocol === 'redis:' || parsed.protocol === 'rediss:') && parsed.hostname !== '';
      if (parsed.password !== '') secrets.push(decodeURIComponent(parsed.password), parsed.password);
    } catch {
      valid = false;
    }
    if (!valid) add(['store', store.url === undefined ? 'urlEnv' : 'url'], 'must be a redis:// or rediss:// URL');
  }
  let encryptionKeys: string[] | undefined;
  if (store.encryptionKeysEnv !== undefined) {
    const text = env[store.encryptionKeysEnv];
    if (text === undefined || text.trim() === '') {
      add(['store', 'encryptionKeysEnv'], `names ${store.encryptionKeysEnv}, which is not set`);
    } else {
      encryptionKeys = text.split(',').map((key) => key.trim()).filter((key) => key !== '');
      secrets.push(...encryptionKeys);
      if (encryptionKeys.some((key) => !/^[A-Za-z0-9+/]+={0,2}$/.test(key) || Buffer.from(key, 'base64').length !== 32)) {
        add(['store', 'encryptionKeysEnv'], `${store.encryptionKeysEnv} must hold base64 32-byte keys, comma-separated (openssl rand -base64 32)`);
      }
    }
  }
  if (url === undefined) return undefined;
  return { type: 'redis', url, keyPrefix: store.keyPrefix, encryptionKeys };
}

/** A message for a zod issue that never quotes the value (it could be a secret in the wrong field). */
function describe(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return /received undefined$/.test(issue.message) ? 'is required' : `must be ${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return issue.origin === 'string' ? 'must not be empty' : issue.origin === 'array' ? issue.message : `must be at least ${String(issue.minimum)}`;
    case 'too_big':
      return issue.origin === 'string' ? `must be at most ${String(issue.maximum)} characters` : `must be at most ${String(issue.maximum)}`;
    case 'unrecognized_keys':
      return `has unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
    case 'invalid_union':
      return issue.message.includes('must be') ? issue.message : 'has none of the accepted forms';
    default:
      return issue.message;
  }
}

function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** The directory a config file's relative paths start from, and its name for messages. */
export function configFileContext(path: string): { baseDir: string; source: string } {
  return { baseDir: dirname(resolve(path)), source: basename(path) };
}
