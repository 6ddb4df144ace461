/**
 * The broker's config file: its schema (zod), and loading it into what the server needs — providers
 * with their secrets read from environment variables or files, the store, the consumers with their key
 * digests, the limits.
 *
 * Every problem in the file becomes one issue of one ConfigError, each naming the field (never its
 * value: a value may be a secret typed in the wrong place). Secrets are never accepted inline.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { managerTimingSchema } from '../../core/options.js';
import {
  describeConfigFileIssue as describe,
  ENV_NAME,
  INLINE_SECRET_MESSAGE,
  inlineSecrets,
  loadProviderSection,
  PROVIDER_ID,
  type ProviderSection,
} from '../config-file.js';
import { ConfigError, type ConfigIssue } from '../../base/errors.js';
import { inSource, issuePath } from '../../base/zod-issues.js';
import type { TokenManagerOptions } from '../../core/options.js';
import type { Provider } from '../../providers/provider.js';
import { proxySectionSchema, resolveProxyLimits, sidecarIssues, type ProxyLimits } from './proxy/config.js';
import { resolveConsumers, resolveTls, type Consumer, type ConsumerConfig, type ResolvedTls, type TlsConfig } from './consumers.js';
import { DEFAULT_LIMITS, type BrokerLimits } from './limits.js';

const envName = z.string().regex(ENV_NAME, 'must be an environment variable name');
const optionalString = z.string().min(1).optional();

const storeSchema = z.discriminatedUnion(
  'type',
  [
    /** Tokens in this process only: lost on every restart (a loud warning says so). */
    z.strictObject({
      /** `memory`. */
      type: z.literal('memory'),
    }),
    z.strictObject({
      /** `sqlite`: the embedded store, one host. */
      type: z.literal('sqlite'),
      /** The database file; default `<stateDir>/broker.sqlite`. */
      path: optionalString,
      /** Name of the environment variable that holds the encryption keys, comma-separated (base64, 32 bytes each). */
      encryptionKeysEnv: envName.optional(),
    }),
    z.strictObject({
      /** `redis`: a fleet of brokers sharing one Redis. */
      type: z.literal('redis'),
      /** `redis://host:port[/db]`; a URL with a password belongs in `urlEnv`. */
      url: optionalString,
      /** Name of the environment variable that holds the Redis URL (it may carry a password). */
      urlEnv: envName.optional(),
      /** Prefix of every key the broker writes (several brokers may share one Redis). */
      keyPrefix: z.string().max(256).optional(),
      /** Name of the environment variable that holds the encryption keys, comma-separated (base64, 32 bytes each). */
      encryptionKeysEnv: envName.optional(),
    }),
  ],
  { error: 'must be "memory", "sqlite" or "redis"' },
);

// The manager's own schema for its timing options: one definition of what each one accepts.
const tokensSchema = managerTimingSchema();

// Each field is documented on BrokerLimits, the type it checks.
const limitsSchema = z.strictObject({
  bodyLimitBytes: z.number().int().min(0).max(1_048_576).optional(),
  maxHeaderBytes: z.number().int().min(1024).max(1_048_576).optional(),
  requestTimeoutMs: z.number().int().min(100).max(600_000).optional(),
  invalidationsPerConsumer: z.number().int().min(0).max(1000).optional(),
  invalidationWindowMs: z.number().int().min(1000).max(86_400_000).optional(),
  failedAuthPerIp: z.number().int().min(1).max(100_000).optional(),
  failedAuthWindowMs: z.number().int().min(1000).max(86_400_000).optional(),
});

const opsSchema = z.strictObject({
  /** The interface, e.g. `127.0.0.1`. */
  host: z.string().min(1).optional(),
  /** The port; 0 for a free one. */
  port: z.number().int().min(0).max(65_535).optional(),
  /** What `/readyz` says while the shared store is unreachable: `degraded` (200, the default) or `not_ready` (503). */
  storeOutage: z.enum(['degraded', 'not_ready']).optional(),
});

const auditSchema = z.strictObject({
  /** Off only if you have another record of who got which token; default on. */
  enabled: z.boolean().optional(),
  /** A file to append the audit lines to (relative to the config file); default stdout. */
  file: optionalString,
});

const listenSchema = z
  .strictObject({
    host: z.string().min(1).optional(),
    port: z.number().int().min(0).max(65_535).optional(),
    /** A unix socket to listen on instead of host and port (the sidecar shape; docs/proxy.md). */
    path: z.string().min(1).max(100).optional(),
  })
  .refine((listen) => listen.path === undefined || (listen.host === undefined && listen.port === undefined), 'give either path or host and port');

/** Top level: each section is checked on its own below, so one bad section does not hide the others' problems. */
const topSchema = z.strictObject({
  $schema: z.string().optional(),
  listen: z.unknown().optional(),
  ops: z.unknown().optional(),
  stateDir: z.string().min(1).optional(),
  audit: z.unknown().optional(),
  tls: z.unknown().optional(),
  providers: z.record(z.string(), z.unknown()),
  store: z.unknown().optional(),
  consumers: z.array(z.unknown()).min(1, 'must list at least one consumer'),
  limits: z.unknown().optional(),
  tokens: z.unknown().optional(),
  proxy: z.unknown().optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
});

/** The config file, as written (see docs/broker.md for a complete example). */
export interface BrokerConfig {
  /** The JSON schema the file follows, for editors; not read. */
  readonly $schema?: string;
  /** The service listener (the token API); default `127.0.0.1:8080`. */
  readonly listen?: {
    /** The interface, e.g. `127.0.0.1`. */
    readonly host?: string;
    /** The port; 0 for a free one. */
    readonly port?: number;
    /** A unix socket path instead of host and port (the sidecar shape, docs/proxy.md). */
    readonly path?: string;
  };
  /** The operations listener (`/metrics`, `/healthz`, `/readyz`); default `127.0.0.1:8081`. */
  readonly ops?: z.input<typeof opsSchema>;
  /** Where the embedded store lives when no `store` is given (see docs/broker.md for the default). */
  readonly stateDir?: string;
  /** The audit log: one line per token handed out, refused or invalidated. */
  readonly audit?: z.input<typeof auditSchema>;
  /** Serve https: `{ certFile, keyFile, caFile? }` (with `caFile`, consumers may authenticate by client certificate). */
  readonly tls?: TlsConfig;
  /** The providers by id: type, client id, and the secret's source (`clientSecretEnv` or `clientSecretFile`, never inline). */
  readonly providers: Readonly<Record<string, ProviderConfig>>;
  /** Where tokens, locks and the issuance ledger live: the embedded SQLite store by default, `memory` or `redis`. */
  readonly store?: StoreConfig;
  /** Who may ask for tokens: a name, the SHA-256 of its API key (one or two), and the providers it may use. */
  readonly consumers: readonly ConsumerConfig[];
  /** Request size, time and rate limits (see {@link BrokerLimits} for each and its default). */
  readonly limits?: Partial<BrokerLimits>;
  /** Token manager options: timeouts, retries, the issuance guard, cool-downs. */
  readonly tokens?: z.input<typeof tokensSchema>;
  /** The proxy's limits (docs/proxy.md). */
  readonly proxy?: z.input<typeof proxySectionSchema>;
  /** Log level of the broker's JSON log (default `info`: one access-log line per request). */
  readonly logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

/** One provider of the config file. */
export type ProviderConfig = ProviderSection;
/** The store section of the config file. */
export type StoreConfig = z.input<typeof storeSchema>;
/** One consumer of the config file. */
export type { Consumer, ConsumerConfig, ResolvedTls, TlsConfig } from './consumers.js';

/** The store to build, with what the library needs; the library validates it. Holds secrets: never logged.
 * The command's plumbing, leaving this entry point (issue 24); not part of the documented API. @internal */
export type ResolvedStore =
  | { readonly type: 'memory'; readonly explicit: boolean }
  | { readonly type: 'sqlite'; readonly path: string; readonly encryptionKeys: string[] | undefined; readonly inStateDir: boolean }
  | {
      readonly type: 'redis';
      readonly url: string;
      /** The config field the URL came from (`url` or `urlEnv`), for the library's messages. */
      readonly urlField: 'url' | 'urlEnv';
      readonly keyPrefix: string | undefined;
      readonly encryptionKeys: string[] | undefined;
    };

/** Everything the server needs, validated, with secrets loaded.
 * The command's plumbing, leaving this entry point (issue 24); not part of the documented API. @internal */
export interface ResolvedBrokerConfig {
  /** `path` (a unix socket) or host and port. */
  readonly listen: { readonly host: string; readonly port: number; readonly path: string | undefined };
  readonly ops: { readonly host: string; readonly port: number; readonly storeOutage: 'degraded' | 'not_ready' };
  readonly providers: ReadonlyMap<string, Provider>;
  readonly store: ResolvedStore;
  readonly consumers: readonly Consumer[];
  readonly limits: BrokerLimits;
  /** The proxy's limits. */
  readonly proxy: ProxyLimits;
  /** Providers whose tokens are DPoP-bound: served through the proxy only. */
  readonly proxyOnlyProviders: ReadonlySet<string>;
  readonly tokens: Omit<TokenManagerOptions, 'providers' | 'store' | 'logger'>;
  readonly logLevel: string;
  readonly audit: { readonly enabled: boolean; readonly file: string | undefined };
  /** The service listener's certificate and key (and the CA of client certificates), read from their files. */
  readonly tls: ResolvedTls | undefined;
  /** Every secret loaded (client secrets, the Redis URL's password): scrubbed from anything printed. */
  readonly secrets: readonly string[];
}

/** Where secrets and relative paths come from (the fields of the same name of `BrokerOptions`). */
export interface LoadContext {
  /** Environment variables (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Directory relative `clientSecretFile` paths start from (default: the current directory). */
  readonly baseDir?: string;
  /** Prefix of every issue path, e.g. the config file's name. */
  readonly source?: string;
}

export { DEFAULT_LIMITS, type BrokerLimits } from './limits.js';

/** The default operations listener: loopback, so metrics stay off the service network unless you say so. */
export const DEFAULT_OPS: {
  /** `127.0.0.1`. */
  readonly host: string;
  /** 8081. */
  readonly port: number;
} = Object.freeze({ host: '127.0.0.1', port: 8081 });

/**
 * A Retry-After longer than this is not waited out inside a consumer's request: the consumer is answered
 * at once with it (the library would otherwise sleep through it and the consumer would time out).
 */
export const BROKER_MAX_RETRY_AFTER_MS = 1_000;

/**
 * The state directory when the config names none: `$STATE_DIRECTORY` under systemd (`StateDirectory=`;
 * the first one when it lists several), else `$XDG_STATE_HOME/tokenbroker`, else `~/.local/state/tokenbroker`.
 * The command's plumbing, leaving this entry point (issue 24); not part of the documented API. @internal
 */
export function defaultStateDir(env: Readonly<Record<string, string | undefined>>): string {
  const systemd = env.STATE_DIRECTORY?.split(':')[0];
  if (systemd !== undefined && systemd !== '') return systemd;
  const xdg = env.XDG_STATE_HOME;
  if (xdg !== undefined && isAbsolute(xdg)) return join(xdg, 'tokenbroker');
  return join(env.HOME ?? homedir(), '.local', 'state', 'tokenbroker');
}

// Fields that would hold a secret inline: refused by name, before the schema, with a hint.
const INLINE_KEY_FIELDS = ['key', 'apiKey', 'api_key', 'token'];

/**
 * Validates a config object and loads its secrets.
 * @throws `ConfigError` (from `tokenbroker`) listing every problem found, each naming its field.
 * The command's plumbing, leaving this entry point (issue 24); not part of the documented API. @internal
 */
export function resolveBrokerConfig(raw: unknown, load: LoadContext = {}): ResolvedBrokerConfig {
  const env = load.env ?? process.env;
  const baseDir = load.baseDir ?? process.cwd();
  const issues: ConfigIssue[] = [];
  const at = (path: readonly PropertyKey[]): string => inSource(load.source, issuePath(path, '', '(top level)'));
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
  const ops = check(opsSchema, source.ops ?? {}, ['ops']);
  const audit = check(auditSchema, source.audit ?? {}, ['audit']);
  const limits = check(limitsSchema, source.limits ?? {}, ['limits']);
  const tokens = check(tokensSchema, source.tokens ?? {}, ['tokens']);
  const proxy = check(proxySectionSchema, source.proxy ?? {}, ['proxy']);
  const proxyOnlyProviders = new Set<string>();

  // Providers: schema, secret, then the factory's own checks (URL policy…), renamed to the file's paths.
  const providers = new Map<string, Provider>();
  const secrets: string[] = [];
  const providerSections = typeof source.providers === 'object' && source.providers !== null ? (source.providers as Record<string, unknown>) : {};
  for (const [id, section] of Object.entries(providerSections)) {
    const path = ['providers', id];
    if (!PROVIDER_ID.test(id)) add(path, 'provider ids must be 1–64 letters, digits or . _ - (they appear in URLs)');
    const loaded = loadProviderSection(section, { env, baseDir }, (field, message) => add([...path, ...field], message));
    if (loaded === undefined) continue;
    const { provider, secret } = loaded;
    if (loaded.section.type === 'oauth2' && loaded.section.dpop === true) proxyOnlyProviders.add(id);
    secrets.push(secret);
    if (provider !== undefined) providers.set(id, provider);
  }

  const stateDir = resolve(baseDir, typeof source.stateDir === 'string' ? source.stateDir : defaultStateDir(env));
  const store = resolveStore(source.store, { env, baseDir, stateDir }, add, check, secrets);

  const consumerList = Array.isArray(source.consumers) ? (source.consumers as unknown[]) : [];
  const tls = resolveTls(source.tls, baseDir, add, check);
  const consumers = resolveConsumers(
    consumerList,
    { providerIds: new Set(Object.keys(providerSections)), clientCertificates: tls?.ca !== undefined },
    add,
    check,
  );
  if (listen !== undefined) sidecarIssues(consumers, { host: listen.host ?? '127.0.0.1', path: listen.path }, add);

  if (
    issues.length > 0 ||
    listen === undefined ||
    ops === undefined ||
    audit === undefined ||
    limits === undefined ||
    tokens === undefined ||
    proxy === undefined ||
    store === undefined ||
    top === undefined ||
    (source.tls !== undefined && tls === undefined)
  ) {
    throw new ConfigError(issues.length > 0 ? issues : [{ path: at([]), message: 'is invalid' }]);
  }
  return {
    listen: { host: listen.host ?? '127.0.0.1', port: listen.port ?? 8080, path: listen.path === undefined ? undefined : resolve(baseDir, listen.path) },
    ops: { host: ops.host ?? DEFAULT_OPS.host, port: ops.port ?? DEFAULT_OPS.port, storeOutage: ops.storeOutage ?? 'degraded' },
    providers,
    store,
    consumers,
    limits: { ...DEFAULT_LIMITS, ...definedOnly(limits) },
    proxy: resolveProxyLimits(proxy),
    proxyOnlyProviders,
    tokens: { ...definedOnly(tokens), retry: { maxRetryAfterMs: BROKER_MAX_RETRY_AFTER_MS, ...definedOnly(tokens.retry ?? {}) } },
    logLevel: top.logLevel ?? 'info',
    tls,
    audit: { enabled: audit.enabled ?? true, file: audit.file === undefined ? undefined : resolve(baseDir, audit.file) },
    secrets,
  };
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
          add(
            ['consumers', index, field],
            'API keys are not accepted in the config file; give "keySha256": the SHA-256 of the key, hex (printf %s "$KEY" | sha256sum)',
          );
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

function resolveStore(
  value: unknown,
  where: { env: Readonly<Record<string, string | undefined>>; baseDir: string; stateDir: string },
  add: Add,
  check: <S extends z.ZodType>(schema: S, value: unknown, path: readonly PropertyKey[]) => z.output<S> | undefined,
  secrets: string[],
): ResolvedStore | undefined {
  const { env } = where;
  if (value === undefined) return { type: 'sqlite', path: join(where.stateDir, 'broker.sqlite'), encryptionKeys: undefined, inStateDir: true };
  const store = check(storeSchema, value, ['store']);
  if (store === undefined) return undefined;
  if (store.type === 'memory') return { type: 'memory', explicit: true };
  // The keys' format is the store's to check (it names the field); here they are only read and split.
  let encryptionKeys: string[] | undefined;
  if (store.encryptionKeysEnv !== undefined) {
    const text = env[store.encryptionKeysEnv];
    if (text === undefined || text.trim() === '') {
      add(['store', 'encryptionKeysEnv'], `names ${store.encryptionKeysEnv}, which is not set`);
    } else {
      encryptionKeys = text
        .split(',')
        .map((key) => key.trim())
        .filter((key) => key !== '');
      secrets.push(...encryptionKeys);
    }
  }
  if (store.type === 'sqlite') {
    const path = store.path === undefined ? join(where.stateDir, 'broker.sqlite') : resolve(where.baseDir, store.path);
    return { type: 'sqlite', path, encryptionKeys, inStateDir: store.path === undefined };
  }
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
    try {
      const password = new URL(url).password;
      if (password !== '') secrets.push(decodeURIComponent(password), password);
    } catch {
      // Not a URL: the store says so, naming the field.
    }
  }
  if (url === undefined) return undefined;
  return { type: 'redis', url, urlField: store.url === undefined ? 'urlEnv' : 'url', keyPrefix: store.keyPrefix, encryptionKeys };
}

function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
