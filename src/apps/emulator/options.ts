import { z } from 'zod';
import { isLoopbackHost } from '../../base/url-policy.js';
import { ConfigError } from '../../base/errors.js';
import { fieldIssues } from '../../base/zod-issues.js';

/** The two providers the emulator imitates, named as in `EmulatorClient.provider`. */
export type EmulatedProvider = 'alternative-payments' | 'autopay';

/** The audience Autopay's token server expects unless a client says otherwise. */
export const DEFAULT_AUTOPAY_AUDIENCE = 'https://api.autopay.io';
/** The scope an Autopay client gets unless it says otherwise. */
export const DEFAULT_AUTOPAY_SCOPE = 'customer_club';

/** One client the emulator accepts credentials for. */
export interface EmulatorClient {
  /** Which provider's token endpoint this client authenticates at. */
  provider: EmulatedProvider;
  /** Client id, unique per provider. For Alternative Payments it may not contain ':' (Basic auth splits there). */
  clientId: string;
  /** Client secret. Any non-empty string; the emulator keeps only a SHA-256 digest of it. */
  clientSecret: string;
  /** Autopay only: the scope granted in issued tokens (default `customer_club`). */
  scope?: string;
  /** Autopay only: the audience this client is enabled for (default `https://api.autopay.io`). */
  audience?: string;
}

/** Token lifetimes in seconds, per provider. */
export interface TokenLifetimes {
  /** Default 3600, as Alternative Payments documents. */
  alternativePayments: number;
  /** Default 86400, as in Autopay's example. */
  autopay: number;
}

/** The next `count` token requests are answered 429. */
export interface Forced429 {
  /** How many token requests (any provider, any client) still get 429. */
  count: number;
  /** When set, sent as `Retry-After` (seconds) and used for Autopay's `x-ratelimit-reset`. */
  retryAfterSeconds?: number;
}

/** The ban for excessive token generation. */
export interface BanPolicy {
  /** A client issued more than this many tokens within the window is banned. */
  maxTokens: number;
  /** Length of the rolling window, in seconds. */
  windowSeconds: number;
}

/** Behaviour that can be changed while the emulator runs (see `Emulator.configure`). */
export interface Knobs {
  /** Lifetime of issued tokens, per provider. */
  tokenLifetimeSeconds: TokenLifetimes;
  /** Delay in ms added before answering every token request. Default 0. */
  latencyMs: number;
  /** Fraction (0..1) of token requests answered 503. Default 0. */
  errorRate: number;
  /** Pending forced 429 answers. Default none (`{ count: 0 }`). */
  force429: Forced429;
  /** Token requests per second per Alternative Payments client id before 429. Default 5; 0 disables. */
  alternativePaymentsRateLimitPerSecond: number;
  /** Ban policy, or `false` for none. Default `{ maxTokens: 20, windowSeconds: 600 }`. */
  ban: BanPolicy | false;
  /**
   * API calls (`GET /customers`) per second per Alternative Payments client id, counted across every
   * token of the client, before 429 (no `Retry-After`, as documented). Default 5; 0 disables.
   */
  alternativePaymentsApiRateLimitPerSecond: number;
  /**
   * API calls per second per Autopay client id before 429 with `x-ratelimit-limit`, `-remaining` and
   * `-reset` (a UNIX time). Default 0: off (Autopay documents no number).
   */
  autopayApiRateLimitPerSecond: number;
}

/** A change to the knobs: every field optional, `tokenLifetimeSeconds` may name one provider only. */
export type KnobsPatch = Partial<Omit<Knobs, 'tokenLifetimeSeconds'>> & {
  /** `expires_in` per provider; a patch may name one provider and leave the other as it is. */
  tokenLifetimeSeconds?: Partial<TokenLifetimes>;
};

/** Options of `startEmulator`. Every knob may also be given here. */
export interface EmulatorOptions extends KnobsPatch {
  /** Loopback host to listen on: `127.0.0.1` (default), another `127.x.x.x`, `::1` or `localhost`. */
  host?: string;
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Clients to accept. When absent, `SAMPLE_CLIENTS` are registered. An empty array registers none. */
  clients?: EmulatorClient[];
  /** Clock in epoch ms (default `Date.now`), so tests can drive expiry, rate limits and bans. */
  now?: () => number;
}

/** The knobs an emulator starts with unless told otherwise (frozen, nested objects included). */
export const DEFAULT_KNOBS: Readonly<Knobs> = Object.freeze({
  tokenLifetimeSeconds: Object.freeze({ alternativePayments: 3600, autopay: 86400 }),
  latencyMs: 0,
  errorRate: 0,
  force429: Object.freeze({ count: 0 }),
  alternativePaymentsRateLimitPerSecond: 5,
  ban: Object.freeze({ maxTokens: 20, windowSeconds: 600 }),
  alternativePaymentsApiRateLimitPerSecond: 5,
  autopayApiRateLimitPerSecond: 0,
});

const nonNegativeInt = z.number().int().min(0);
const positiveInt = z.number().int().min(1);
// A string bound: keeps a typo'd megabyte secret from living in memory and keeps messages short.
const credentialString = z.string().min(1).max(1024);

const lifetimesPatchSchema = z.strictObject({
  alternativePayments: positiveInt.max(31_536_000).optional(),
  autopay: positiveInt.max(31_536_000).optional(),
});

const knobsPatchShape = {
  tokenLifetimeSeconds: lifetimesPatchSchema.optional(),
  latencyMs: nonNegativeInt.max(60_000).optional(),
  errorRate: z.number().min(0).max(1).optional(),
  force429: z.strictObject({ count: nonNegativeInt, retryAfterSeconds: nonNegativeInt.max(86_400).optional() }).optional(),
  alternativePaymentsRateLimitPerSecond: nonNegativeInt.optional(),
  alternativePaymentsApiRateLimitPerSecond: nonNegativeInt.max(100_000).optional(),
  autopayApiRateLimitPerSecond: nonNegativeInt.max(100_000).optional(),
  ban: z
    .union([z.literal(false), z.strictObject({ maxTokens: positiveInt, windowSeconds: positiveInt })], {
      error: 'must be false or { maxTokens, windowSeconds } with integers of at least 1',
    })
    .optional(),
};

const knobsPatchSchema = z.strictObject(knobsPatchShape);

const clientSchema = z
  .strictObject({
    provider: z.enum(['alternative-payments', 'autopay']),
    clientId: credentialString,
    clientSecret: credentialString,
    scope: z.string().min(1).max(1024).optional(),
    audience: z.string().min(1).max(1024).optional(),
  })
  .superRefine((client, ctx) => {
    if (client.provider === 'alternative-payments') {
      if (client.clientId.includes(':')) {
        ctx.addIssue({
          code: 'custom',
          path: ['clientId'],
          message: "must not contain ':' (Basic credentials split at the first ':')",
        });
      }
      for (const field of ['scope', 'audience'] as const) {
        if (client[field] !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [field],
            message: 'is an Autopay setting; Alternative Payments clients have none',
          });
        }
      }
    }
  });

const optionsSchema = z.strictObject({
  ...knobsPatchShape,
  host: z
    .string()
    // Loopback only: the emulator accepts any credential shape and must never face a network.
    .refine(isLoopbackHost, { message: 'must be a loopback host (127.0.0.1, another 127.x.x.x, ::1 or localhost)' })
    .optional(),
  port: nonNegativeInt.max(65_535).optional(),
  clients: z
    .array(clientSchema)
    .superRefine((clients, ctx) => {
      const seen = new Set<string>();
      clients.forEach((client, index) => {
        const key = `${client.provider}\u0000${client.clientId}`;
        if (seen.has(key)) {
          ctx.addIssue({
            code: 'custom',
            path: [index, 'clientId'],
            message: `duplicate client id for ${client.provider}`,
          });
        }
        seen.add(key);
      });
    })
    .optional(),
  now: z.custom<() => number>((value) => typeof value === 'function', { message: 'must be a function' }).optional(),
});

/** Options after validation, with defaults applied. */
export interface ResolvedEmulatorOptions {
  host: string;
  port: number;
  clients: EmulatorClient[] | undefined;
  now: () => number;
  knobs: Knobs;
}

/** Validates `startEmulator` options; throws a `ConfigError` naming every bad field (`startEmulator.<field>`). */
export function resolveEmulatorOptions(options: EmulatorOptions | undefined): ResolvedEmulatorOptions {
  const parsed = optionsSchema.safeParse(options ?? {});
  if (!parsed.success) throw new ConfigError(fieldIssues(parsed.error.issues, 'startEmulator'));
  const { host, port, clients, now, ...patch } = parsed.data;
  return {
    host: host ?? '127.0.0.1',
    port: port ?? 0,
    clients,
    now: now ?? Date.now,
    knobs: applyKnobsPatch(DEFAULT_KNOBS, patch),
  };
}

/** Validates a knobs patch (from `configure` or over HTTP); throws a `ConfigError` naming every bad field (`knobs.<field>`). */
export function parseKnobsPatch(patch: unknown): KnobsPatch {
  const parsed = knobsPatchSchema.safeParse(patch ?? {});
  if (!parsed.success) throw new ConfigError(fieldIssues(parsed.error.issues, 'knobs'));
  return parsed.data;
}

/** Returns new knobs: `base` with `patch` laid over it (lifetimes merge per provider). */
export function applyKnobsPatch(base: Readonly<Knobs>, patch: KnobsPatch): Knobs {
  return {
    tokenLifetimeSeconds: {
      alternativePayments: patch.tokenLifetimeSeconds?.alternativePayments ?? base.tokenLifetimeSeconds.alternativePayments,
      autopay: patch.tokenLifetimeSeconds?.autopay ?? base.tokenLifetimeSeconds.autopay,
    },
    latencyMs: patch.latencyMs ?? base.latencyMs,
    errorRate: patch.errorRate ?? base.errorRate,
    force429: { ...(patch.force429 ?? base.force429) },
    alternativePaymentsRateLimitPerSecond: patch.alternativePaymentsRateLimitPerSecond ?? base.alternativePaymentsRateLimitPerSecond,
    ban: patch.ban === undefined ? cloneBan(base.ban) : cloneBan(patch.ban),
    alternativePaymentsApiRateLimitPerSecond: patch.alternativePaymentsApiRateLimitPerSecond ?? base.alternativePaymentsApiRateLimitPerSecond,
    autopayApiRateLimitPerSecond: patch.autopayApiRateLimitPerSecond ?? base.autopayApiRateLimitPerSecond,
  };
}

function cloneBan(ban: BanPolicy | false): BanPolicy | false {
  return ban === false ? false : { ...ban };
}
