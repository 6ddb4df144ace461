/**
 * The options of `oauth2()`, their validation (one ConfigError listing every problem, never quoting a
 * value) and what they resolve to: the settings every credential of one server shares, and the
 * secrets of this one.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../../base/errors.js';
import { functionSchema, lazySchema, nonEmptyString, parseOptions, secureUrl } from '../../base/validate.js';
import { rateLimitSchema, resolvedRateLimit, type RateLimit } from '../../base/rate-limit.js';
import { readPrivateKey, SIGNING_ALGORITHMS, type PrivateKeyInput, type SigningAlgorithm, type SigningKey } from './keys.js';
import type { FetchLike, TlsClientCertificate } from './transport.js';

/** How an `oauth2()` client authenticates at the token endpoint. */
export type OAuth2AuthMethod =
  'auto' | 'client_secret_basic' | 'client_secret_post' | 'client_secret_jwt' | 'private_key_jwt' | 'tls_client_auth' | 'self_signed_tls_client_auth';

/** The key DPoP proofs are signed with, shared by every process that should share DPoP-bound tokens. */
export interface DpopKey {
  /** The private key (PEM, JWK or `KeyObject`). Read at construction; never shown. */
  readonly privateKey: PrivateKeyInput;
  /** The JWS algorithm (default: chosen from the key, as for `private_key_jwt`). */
  readonly algorithm?: SigningAlgorithm | undefined;
}

/**
 * Options of {@link oauth2}. Give exactly one of `tokenUrl` and `issuer`.
 *
 * @example
 * ```ts
 * const options: OAuth2Options = {
 *   issuer: 'https://auth.example.com',
 *   clientId: process.env.CLIENT_ID!,
 *   clientSecret: process.env.CLIENT_SECRET!,
 *   scope: 'payments:read payments:write',
 * };
 * const provider = oauth2(options);
 * ```
 */
export interface OAuth2Options {
  /** The token endpoint, when known. `https://`, or `http://` to a loopback host only. */
  readonly tokenUrl?: string | undefined;
  /**
   * The issuer identifier. Its metadata is fetched on the first token request — OpenID
   * (`/.well-known/openid-configuration`), then RFC 8414 (`/.well-known/oauth-authorization-server`)
   * — and again after a failed token request or once it is `metadataMaxAgeMs` old.
   */
  readonly issuer?: string | undefined;
  /** How long discovered metadata is trusted, in ms (default 3 600 000: one hour). */
  readonly metadataMaxAgeMs?: number | undefined;
  /** The client id. */
  readonly clientId: string;
  /** The client secret, for the `client_secret_*` methods. Never shown. */
  readonly clientSecret?: string | undefined;
  /**
   * How the client authenticates. Default: `private_key_jwt` with a `privateKey`, `tls_client_auth`
   * with `tls` and no secret, else `'auto'`: the server's `token_endpoint_auth_methods_supported`
   * decides when discovery gives it; otherwise HTTP Basic, then `client_secret_post` once on an
   * `invalid_client`/401 answer, and what worked is remembered per token endpoint.
   */
  readonly authMethod?: OAuth2AuthMethod | undefined;
  /** `private_key_jwt`: the key (PEM, JWK or `KeyObject`). Read at construction; never shown. */
  readonly privateKey?: PrivateKeyInput | undefined;
  /** `private_key_jwt`: the `kid` header of the assertion. */
  readonly keyId?: string | undefined;
  /** `private_key_jwt`: the JWS algorithm (default: RS256 for RSA keys, ES256/384/512 by curve, EdDSA). */
  readonly algorithm?: SigningAlgorithm | undefined;
  /** Mutual TLS (RFC 8705): the client certificate presented on every connection of this provider. */
  readonly tls?: TlsClientCertificate | undefined;
  /**
   * DPoP (RFC 9449): `true` for a key made for this provider (tokens then stay in this process), or
   * `{ privateKey }` to share tokens across processes that hold the same key.
   */
  readonly dpop?: boolean | DpopKey | undefined;
  /** The `scope` parameter (space-separated), when the server wants one. */
  readonly scope?: string | undefined;
  /** The `audience` parameter (Auth0 and others). */
  readonly audience?: string | undefined;
  /** The `resource` parameter (RFC 8707): one value or several. */
  readonly resource?: string | readonly string[] | undefined;
  /** Prefix for `tokens.client(id)`. `https://`, or `http://` to a loopback host only. */
  readonly apiBaseUrl?: string | undefined;
  /** API calls allowed per credential, paced across every process sharing the store; none by default. See docs/rate-limits.md. */
  readonly rateLimit?: RateLimit | false | undefined;
  /**
   * Lifetime to assume when a response has no `expires_in` (RFC 6749 only recommends it), in seconds.
   * Without it such a response is an `InvalidTokenResponseError`: a guessed lifetime could be wrong.
   */
  readonly defaultExpiresInSeconds?: number | undefined;
  /**
   * Further token request parameters; an array repeats the parameter. Cannot override `grant_type`,
   * the client credentials, `scope`, `audience` or `resource`.
   */
  readonly extraParams?: Readonly<Record<string, string | readonly string[]>> | undefined;
  /** The fetch for token requests, discovery and `tokens.client(id)` (default: the global one). */
  readonly fetch?: FetchLike | undefined;
  /**
   * An undici dispatcher (`ProxyAgent`, `EnvHttpProxyAgent`, an `Agent` with client certificates)
   * passed to `fetch` on every request of this provider. Taken as an opaque object: use undici's
   * version that matches the fetch it goes to (Node's own, or undici's `fetch` given as `fetch`).
   */
  readonly dispatcher?: object | undefined;
}

/** Parameters that the other options own. */
const RESERVED_PARAMS = new Set(['grant_type', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type', 'scope', 'audience', 'resource']);

const SECRET_METHODS = new Set<OAuth2AuthMethod>(['auto', 'client_secret_basic', 'client_secret_post', 'client_secret_jwt']);
const TLS_METHODS = new Set<OAuth2AuthMethod>(['tls_client_auth', 'self_signed_tls_client_auth']);

const optionsSchema = lazySchema(() => {
  const privateKeySchema = z.custom<PrivateKeyInput>(
    (value) => typeof value === 'string' || Buffer.isBuffer(value) || (typeof value === 'object' && value !== null),
    'must be a PEM string, a JWK or a KeyObject',
  );
  const pem = z.union([z.string().min(1), z.instanceof(Buffer)]);
  return (
    z
      .strictObject({
        tokenUrl: secureUrl().optional(),
        issuer: secureUrl().optional(),
        metadataMaxAgeMs: z.number().int().min(1000).optional(),
        clientId: nonEmptyString(),
        clientSecret: nonEmptyString().optional(),
        authMethod: z
          .enum(['auto', 'client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth'])
          .optional(),
        privateKey: privateKeySchema.optional(),
        keyId: nonEmptyString().optional(),
        algorithm: z.enum(SIGNING_ALGORITHMS).optional(),
        tls: z.strictObject({ cert: pem, key: pem, ca: z.union([pem, z.array(pem)]).optional() }).optional(),
        dpop: z.union([z.boolean(), z.strictObject({ privateKey: privateKeySchema, algorithm: z.enum(SIGNING_ALGORITHMS).optional() })]).optional(),
        scope: nonEmptyString().optional(),
        audience: nonEmptyString().optional(),
        resource: z.union([nonEmptyString(), z.array(nonEmptyString()).min(1)]).optional(),
        apiBaseUrl: secureUrl().optional(),
        rateLimit: rateLimitSchema().optional(),
        defaultExpiresInSeconds: z.number().int().positive().optional(),
        extraParams: z
          .record(z.string(), z.union([z.string(), z.array(z.string()).min(1)]))
          .superRefine((params, ctx) => {
            for (const key of Object.keys(params)) {
              if (key.length === 0) ctx.addIssue({ code: 'custom', path: [key], message: 'has an empty parameter name' });
              else if (RESERVED_PARAMS.has(key)) ctx.addIssue({ code: 'custom', path: [key], message: 'is set by tokenbroker or by its own option' });
            }
          })
          .optional(),
        fetch: functionSchema().optional(),
        dispatcher: z.custom<object>((value) => typeof value === 'object' && value !== null, 'must be an undici dispatcher').optional(),
      })
      // Checked even when other fields are wrong, so one ConfigError lists every problem.
      .superRefine(
        (value, ctx) => {
          const { tokenUrl, issuer } = value as { tokenUrl?: unknown; issuer?: unknown };
          if (tokenUrl === undefined && issuer === undefined) {
            ctx.addIssue({ code: 'custom', path: ['tokenUrl'], message: 'is required unless issuer is given (give exactly one)' });
          } else if (tokenUrl !== undefined && issuer !== undefined) {
            ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'cannot be combined with tokenUrl (give exactly one)' });
          }
        },
        { when: (payload) => typeof payload.value === 'object' && payload.value !== null },
      )
  );
});

/** What every credential with the same server and request options shares (interned, immutable). */
export interface SharedSettings {
  readonly tokenUrl: string | undefined;
  readonly issuer: string | undefined;
  readonly metadataMaxAgeMs: number;
  readonly authMethod: OAuth2AuthMethod;
  /** The form parameters besides grant_type and client authentication, in order; repeats allowed. */
  readonly params: readonly (readonly [string, string])[];
  readonly apiBaseUrl: string | undefined;
  readonly rateLimit: RateLimit | undefined;
  readonly defaultExpiresInSeconds: number | undefined;
  readonly fetch: FetchLike | undefined;
  readonly dispatcher: object | undefined;
}

/** What belongs to one credential. */
export interface CredentialSettings {
  readonly clientId: string;
  readonly clientSecret: string | undefined;
  readonly signingKey: SigningKey | undefined;
  readonly keyId: string | undefined;
  readonly tls: TlsClientCertificate | undefined;
  readonly dpop: true | SigningKey | undefined;
}

/** Validates the options (throws one ConfigError with every problem) and splits them. */
export function resolveOAuth2Options(options: OAuth2Options): { shared: SharedSettings; credential: CredentialSettings } {
  const parsed = parseOptions(optionsSchema(), options, 'oauth2');
  const issues: ConfigIssue[] = [];
  const issue = (path: string, message: string) => issues.push({ path: `oauth2.${path}`, message });

  const authMethod: OAuth2AuthMethod =
    parsed.authMethod ??
    (parsed.privateKey !== undefined ? 'private_key_jwt' : parsed.tls !== undefined && parsed.clientSecret === undefined ? 'tls_client_auth' : 'auto');
  if (SECRET_METHODS.has(authMethod) && parsed.clientSecret === undefined) issue('clientSecret', `is required for authMethod ${authMethod}`);
  if (authMethod === 'private_key_jwt' && parsed.privateKey === undefined) issue('privateKey', 'is required for authMethod private_key_jwt');
  if (TLS_METHODS.has(authMethod) && parsed.tls === undefined && parsed.dispatcher === undefined && parsed.fetch === undefined) {
    issue('tls', `is required for authMethod ${authMethod} (or a dispatcher or fetch that presents the client certificate)`);
  }
  if (parsed.tls !== undefined && (parsed.dispatcher !== undefined || parsed.fetch !== undefined)) {
    issue('tls', 'cannot be combined with dispatcher or fetch (put the certificate in your dispatcher instead)');
  }

  if (parsed.tls !== undefined) {
    try {
      new X509Certificate(parsed.tls.cert);
    } catch {
      issue('tls.cert', 'is not a PEM certificate');
    }
    try {
      createPrivateKey(parsed.tls.key);
    } catch {
      issue('tls.key', 'is not a PEM private key');
    }
  }

  let signingKey: SigningKey | undefined;
  if (parsed.privateKey !== undefined) {
    try {
      signingKey = readPrivateKey(parsed.privateKey, parsed.algorithm);
    } catch (error) {
      issue('privateKey', (error as Error).message);
    }
  }
  let dpop: true | SigningKey | undefined;
  if (parsed.dpop === true) dpop = true;
  else if (typeof parsed.dpop === 'object') {
    try {
      dpop = readPrivateKey(parsed.dpop.privateKey, parsed.dpop.algorithm);
    } catch (error) {
      issue('dpop.privateKey', (error as Error).message);
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);

  const params: [string, string][] = [];
  // Sorted by name (repeats keep their order), so the same parameters make the same cache key.
  const extra = Object.entries(parsed.extraParams ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [name, value] of extra) {
    for (const one of typeof value === 'string' ? [value] : value) params.push([name, one]);
  }
  if (parsed.scope !== undefined) params.push(['scope', parsed.scope]);
  if (parsed.audience !== undefined) params.push(['audience', parsed.audience]);
  for (const one of typeof parsed.resource === 'string' ? [parsed.resource] : (parsed.resource ?? [])) params.push(['resource', one]);

  return {
    shared: {
      tokenUrl: parsed.tokenUrl,
      issuer: parsed.issuer,
      metadataMaxAgeMs: parsed.metadataMaxAgeMs ?? 3_600_000,
      authMethod,
      params,
      apiBaseUrl: parsed.apiBaseUrl,
      rateLimit: resolvedRateLimit(parsed.rateLimit, undefined),
      defaultExpiresInSeconds: parsed.defaultExpiresInSeconds,
      fetch: parsed.fetch as FetchLike | undefined,
      dispatcher: parsed.dispatcher,
    },
    credential: { clientId: parsed.clientId, clientSecret: parsed.clientSecret, signingKey, keyId: parsed.keyId, tls: parsed.tls, dpop },
  };
}
