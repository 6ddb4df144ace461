/**
 * The proxy's part of the config file: the `proxy` section (its limits), and per consumer the `allow`
 * rules (methods and path prefixes per provider). Schemas here, used by config.ts and consumers.ts.
 */
import { z } from 'zod';

/** The methods an `allow` rule may name. */
export const PROXY_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** The `proxy` section of the config file. */
export const proxySectionSchema = z.strictObject({
  /** Largest request body forwarded, in bytes; default 1 048 576 (1 MiB). Larger: 413 `payload_too_large`. */
  maxBodyBytes: z.number().int().min(0).max(1_073_741_824).optional(),
  /**
   * Request bodies up to this size are held in memory so the call can be replayed after an upstream
   * 401; a larger (streamed) body is not replayed. Default 65 536.
   */
  replayBufferBytes: z.number().int().min(0).max(16_777_216).optional(),
  /** Largest upstream answer passed back, in bytes; default 16 777 216 (16 MiB). */
  maxResponseBytes: z.number().int().min(1024).max(1_073_741_824).optional(),
  /** Longest wait for the upstream's TCP/TLS connection; default 5 000. Past it: 504 `upstream_timeout`. */
  connectTimeoutMs: z.number().int().min(100).max(120_000).optional(),
  /** Longest wait for the upstream's response headers, and between two chunks of its body; default 30 000. */
  responseTimeoutMs: z.number().int().min(100).max(600_000).optional(),
  /** Largest upstream response head, in bytes; default 16 384. */
  maxResponseHeaderBytes: z.number().int().min(1024).max(1_048_576).optional(),
});

/** The proxy's limits, resolved. */
export interface ProxyLimits {
  readonly maxBodyBytes: number;
  readonly replayBufferBytes: number;
  readonly maxResponseBytes: number;
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  readonly maxResponseHeaderBytes: number;
}

/** The proxy's limits unless the config says otherwise. */
export const DEFAULT_PROXY_LIMITS: ProxyLimits = Object.freeze({
  maxBodyBytes: 1_048_576,
  replayBufferBytes: 65_536,
  maxResponseBytes: 16_777_216,
  connectTimeoutMs: 5_000,
  responseTimeoutMs: 30_000,
  maxResponseHeaderBytes: 16_384,
});

/** The `proxy` section with its defaults. */
export function resolveProxyLimits(section: z.output<typeof proxySectionSchema> | undefined): ProxyLimits {
  const given = Object.fromEntries(Object.entries(section ?? {}).filter(([, value]) => value !== undefined));
  return Object.freeze({ ...DEFAULT_PROXY_LIMITS, ...given });
}

/** One `allow` rule of a consumer, as written. */
export const allowRuleSchema = z.strictObject({
  /** The provider id the rule is about. */
  provider: z.string().min(1),
  /** Methods allowed through the proxy; default all. */
  methods: z
    .array(z.enum(PROXY_METHODS, { error: `must be one of ${PROXY_METHODS.join(', ')}` }))
    .min(1, 'must list at least one method')
    .optional(),
  /** Path prefixes allowed (whole segments: `/customers` allows `/customers` and `/customers/42`, not `/customersX`); default all. */
  paths: z
    .array(
      z
        .string()
        .regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$/, 'must start with / and hold only URL path characters (no %, ?, # or \\)')
        .refine((path) => !path.split('/').some((segment) => segment === '.' || segment === '..'), 'must not hold . or .. segments'),
    )
    .min(1, 'must list at least one path prefix')
    .optional(),
});

/** One `allow` rule, resolved. */
export interface AllowRule {
  readonly provider: string;
  /** Upper-case methods, or undefined for all. */
  readonly methods: ReadonlySet<string> | undefined;
  /** Prefixes without a trailing slash (`''` for the whole API), or undefined for all. */
  readonly paths: readonly string[] | undefined;
}

/** Resolves a consumer's rules. */
export function resolveAllowRules(rules: readonly z.output<typeof allowRuleSchema>[] | undefined): readonly AllowRule[] | undefined {
  if (rules === undefined) return undefined;
  return rules.map((rule) => ({
    provider: rule.provider,
    methods: rule.methods === undefined ? undefined : new Set(rule.methods),
    paths: rule.paths?.map((path) => path.replace(/\/+$/, '')),
  }));
}

/**
 * Whether `rules` let a call through: with no rule for `provider`, everything its provider allow-list
 * allows; otherwise one rule must match both the method and the path (`decodedPath`, e.g. `/customers/42`).
 */
export function allowedByRules(rules: readonly AllowRule[] | undefined, provider: string, method: string, decodedPath: string): boolean {
  if (rules === undefined) return true;
  let any = false;
  for (const rule of rules) {
    if (rule.provider !== provider) continue;
    any = true;
    if (rule.methods !== undefined && !rule.methods.has(method)) continue;
    if (rule.paths === undefined) return true;
    for (const prefix of rule.paths) {
      if (prefix === '' || decodedPath === prefix || decodedPath.startsWith(`${prefix}/`)) return true;
    }
  }
  return !any;
}

/**
 * A consumer's proxy fields that do not fit its schema: each `allow` rule names a provider of its own
 * allow-list; an anonymous consumer has no key or certificate.
 */
export function proxyConsumerIssues(
  consumer: {
    readonly providers: readonly string[];
    readonly allow?: readonly { readonly provider: string }[] | undefined;
    readonly anonymous?: true | undefined;
    readonly keySha256?: unknown;
    readonly certFingerprint256?: unknown;
    readonly certSubject?: unknown;
  },
  path: readonly PropertyKey[],
  add: (path: readonly PropertyKey[], message: string) => void,
): void {
  consumer.allow?.forEach((rule, i) => {
    if (!consumer.providers.includes(rule.provider)) add([...path, 'allow', i, 'provider'], 'names a provider that is not in this consumer\'s "providers"');
  });
  if (consumer.anonymous === true && (consumer.keySha256 !== undefined || consumer.certFingerprint256 !== undefined || consumer.certSubject !== undefined)) {
    add([...path, 'anonymous'], 'an anonymous consumer has no keySha256 or certificate: it is whoever reaches the listener without a key');
  }
}

/**
 * The sidecar rule: an anonymous consumer (no key) only behind a unix socket or a loopback address,
 * and at most one. `listen` is the resolved listener.
 */
export function sidecarIssues(
  consumers: readonly { readonly anonymous: boolean }[],
  listen: { readonly host: string; readonly path: string | undefined },
  add: (path: readonly PropertyKey[], message: string) => void,
): void {
  const anonymous = consumers.flatMap((consumer, index) => (consumer.anonymous ? [index] : []));
  if (anonymous.length > 1) add(['consumers', anonymous[1]!, 'anonymous'], 'only one consumer may be anonymous');
  if (anonymous.length > 0 && listen.path === undefined && !isLoopbackHost(listen.host)) {
    add(
      ['consumers', anonymous[0]!, 'anonymous'],
      'needs listen.path (a unix socket) or a loopback listen.host (127.0.0.1, ::1, localhost): anyone who can reach the listener acts as this consumer',
    );
  }
}

/** `localhost`, `127.0.0.0/8`, `::1`. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
