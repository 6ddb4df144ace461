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
import { isSecretFile, type SecretFile } from '../secret-file.js';
import { SecretReader, secretSourceSchema, type SecretFunction, type SecretSource } from '../secret-source.js';

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
  /**
   * The client secret, for the `client_secret_*` methods: the value, a function that returns it, or
   * `secretFile(path)` — both read again before each token request (docs/secrets.md). Never shown.
   */
  readonly clientSecret?: SecretSource | undefined;
  /**
   * A client assertion signed by someone else (RFC 7523 §2.2): a function that returns the JWT, or
   * `secretFile(path)` — a Kubernetes projected service-account token, a SPIFFE JWT-SVID. Read before
   * each token request and sent as `client_assertion` with `authMethod` `private_key_jwt` (the
   * default with it); never kept past that request. The cache key is the client's identity (token URL,
   * client id, the file's path), not the assertion.
   */
  readonly clientAssertion?: SecretFunction | SecretFile | undefined;
  /**
   * How the client authenticates. Default: `private_key_jwt` with a `privateKey`, `tls_client_auth`
   * with `tls` and no secret, else `'auto'`: the server's `token_endpoint_auth_methods_supported`
   * decides when discovery gives it; otherwise HTTP Basic, then `client_secret_post` once on an
   * `invalid_client`/401 answer, and what worked is remembered per token endpoint.
   */
  readonly authMethod?: OAuth2AuthMethod | undefined;
  /**
   * `private_key_jwt`: the key (PEM, JWK or `KeyObject`), or a function or `secretFile(path)` giving
   * the PEM, read again before each token request. Never shown.
   */
  readonly privateKey?: PrivateKeyInput | SecretFunction | SecretFile | undefined;
  /** `private_key_jwt`: the `kid` header of the assertion. */
  readonly keyId?: string | undefined;
  /** `private_key_jwt`: the JWS algorithm (default: RS256 for RSA keys, ES256/384/512 by curve, EdDSA). */
  readonly algorithm?: SigningAlgorithm | undefined;
  /**
   * Mutual TLS (RFC 8705): the client certificate presented on every connection of this provider.
   * `cert` and `key` may also be functions or `secretFile(path)`, read again before each token request.
   */
  readonly tls?: TlsClientCertificateSources | undefined;
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

/** {@link TlsClientCertificate} whose certificate and key may come from functions or files. */
export interface TlsClientCertificateSources extends Omit<TlsClientCertificate, 'cert' | 'key'> {
  /** The client certificate chain, PEM: a value, a function or `secretFile(path)`. */
  readonly cert: string | Buffer | SecretFunction | SecretFile;
  /** Its private key, PEM: a value, a function or `secretFile(path)`. Never shown. */
  readonly key: string | Buffer | SecretFunction | SecretFile;
}

/** True for a source that is read (a function or a file) rather than a value. */
function isReadSource(value: unknown): value is SecretFunction | SecretFile {
  return typeof value === 'function' || isSecretFile(value);
}

/** Parameters that the other options own. */
const RESERVED_PARAMS = new Set(['grant_type', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type', 'scope', 'audience', 'resource']);

const SECRET_METHODS = new Set<OAuth2AuthMethod>(['auto', 'client_secret_basic', 'client_secret_post', 'client_secret_jwt']);
const TLS_METHODS = new Set<OAuth2AuthMethod>(['tls_client_auth', 'self_signed_tls_client_auth']);

const optionsSchema = lazySchema(() => {
  const keyValueSchema = z.custom<PrivateKeyInput>(
    (value) => typeof value === 'string' || Buffer.isBuffer(value) || (typeof value === 'object' && value !== null && !isSecretFile(value)),
    'must be a PEM string, a JWK or a KeyObject',
  );
  const privateKeySchema = z.custom<PrivateKeyInput | SecretFunction | SecretFile>(
    (value) => typeof value === 'string' || Buffer.isBuffer(value) || (typeof value === 'object' && value !== null) || typeof value === 'function',
    'must be a PEM string, a JWK, a KeyObject, a function or secretFile(path)',
  );
  const pem = z.union([z.string().min(1), z.instanceof(Buffer)]);
  const pemSource = z.custom<string | Buffer | SecretFunction | SecretFile>(
    (value) => (typeof value === 'string' && value.length > 0) || Buffer.isBuffer(value) || isReadSource(value),
    'must be PEM (a string or Buffer), a function or secretFile(path)',
  );
  const assertionSource = z.custom<SecretFunction | SecretFile>(
    isReadSource,
    'must be a function or secretFile(path): an assertion expires, so it is read before each request',
  );
  return (
    z
      .strictObject({
        tokenUrl: secureUrl().optional(),
        issuer: secureUrl().optional(),
        metadataMaxAgeMs: z.number().int().min(1000).optional(),
        clientId: nonEmptyString(),
        clientSecret: secretSourceSchema().optional(),
        clientAssertion: assertionSource.optional(),
        authMethod: z
          .enum(['auto', 'client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth'])
          .optional(),
        privateKey: privateKeySchema.optional(),
        keyId: nonEmptyString().optional(),
        algorithm: z.enum(SIGNING_ALGORITHMS).optional(),
        tls: z.strictObject({ cert: pemSource, key: pemSource, ca: z.union([pem, z.array(pem)]).optional() }).optional(),
        dpop: z.union([z.boolean(), z.strictObject({ privateKey: keyValueSchema, algorithm: z.enum(SIGNING_ALGORITHMS).optional() })]).optional(),
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

/** The sources of one credential; each absent when given as a value (or not at all). */
export interface CredentialSources {
  readonly clientSecret?: SecretReader | undefined;
  readonly privateKey?: SecretReader | undefined;
  /** The algorithm the options name for `privateKey`, if any. */
  readonly algorithm?: SigningAlgorithm | undefined;
  readonly tlsCert?: SecretReader | undefined;
  readonly tlsKey?: SecretReader | undefined;
  readonly clientAssertion?: SecretReader | undefined;
}

/** What belongs to one credential (the values read last, for secrets that come from sources). */
export interface CredentialSettings {
  readonly clientId: string;
  readonly clientSecret: string | undefined;
  readonly signingKey: SigningKey | undefined;
  readonly keyId: string | undefined;
  readonly tls: TlsClientCertificate | undefined;
  readonly dpop: true | SigningKey | undefined;
}

/** Validates the options (throws one ConfigError with every problem) and splits them. */
export function resolveOAuth2Options(options: OAuth2Options): {
  shared: SharedSettings;
  credential: CredentialSettings;
  sources: CredentialSources | undefined;
} {
  const parsed = parseOptions(optionsSchema(), options, 'oauth2');
  const issues: ConfigIssue[] = [];
  const issue = (path: string, message: string) => issues.push({ path: `oauth2.${path}`, message });

  const authMethod: OAuth2AuthMethod =
    parsed.authMethod ??
    (parsed.privateKey !== undefined || parsed.clientAssertion !== undefined
      ? 'private_key_jwt'
      : parsed.tls !== undefined && parsed.clientSecret === undefined
        ? 'tls_client_auth'
        : 'auto');
  if (SECRET_METHODS.has(authMethod) && parsed.clientSecret === undefined) issue('clientSecret', `is required for authMethod ${authMethod}`);
  if (authMethod === 'private_key_jwt' && parsed.privateKey === undefined && parsed.clientAssertion === undefined) {
    issue('privateKey', 'is required for authMethod private_key_jwt (or clientAssertion)');
  }
  if (parsed.clientAssertion !== undefined && parsed.privateKey !== undefined)
    issue('clientAssertion', 'cannot be combined with privateKey (the assertion is signed already)');
  if (parsed.clientAssertion !== undefined && authMethod !== 'private_key_jwt') issue('clientAssertion', 'is sent with authMethod private_key_jwt only');

  // Sources that are read (functions, files) get a reader; a file is read now, so a missing one is an issue here.
  const reader = (path: string, source: unknown): SecretReader | undefined => {
    if (!isReadSource(source)) return undefined;
    try {
      return new SecretReader(`oauth2.${path}`, source);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      for (const one of error.issues) issues.push(one);
      return undefined;
    }
  };
  const sources: CredentialSources = {
    clientSecret: reader('clientSecret', parsed.clientSecret),
    privateKey: reader('privateKey', parsed.privateKey),
    algorithm: parsed.algorithm,
    tlsCert: reader('tls.cert', parsed.tls?.cert),
    tlsKey: reader('tls.key', parsed.tls?.key),
    clientAssertion: reader('clientAssertion', parsed.clientAssertion),
  };
  const dynamic = Object.values(sources).some((value) => value instanceof SecretReader);
  // A value as it is; a read source's first value (a file's), or nothing yet (a function's).
  const current = <T>(source: T, read: SecretReader | undefined): T | string | undefined => (isReadSource(source) ? read?.value : source);
  const clientSecret = current(parsed.clientSecret, sources.clientSecret) as string | undefined;
  const privateKey = current(parsed.privateKey, sources.privateKey) as PrivateKeyInput | undefined;
  const tlsCert = current(parsed.tls?.cert, sources.tlsCert) as string | Buffer | undefined;
  const tlsKey = current(parsed.tls?.key, sources.tlsKey) as string | Buffer | undefined;
  const tlsValues: TlsClientCertificate | undefined =
    parsed.tls === undefined || tlsCert === undefined || tlsKey === undefined ? undefined : { cert: tlsCert, key: tlsKey, ca: parsed.tls.ca };
  if (TLS_METHODS.has(authMethod) && parsed.tls === undefined && parsed.dispatcher === undefined && parsed.fetch === undefined) {
    issue('tls', `is required for authMethod ${authMethod} (or a dispatcher or fetch that presents the client certificate)`);
  }
  if (parsed.tls !== undefined && (parsed.dispatcher !== undefined || parsed.fetch !== undefined)) {
    issue('tls', 'cannot be combined with dispatcher or fetch (put the certificate in your dispatcher instead)');
  }

  if (tlsCert !== undefined) {
    try {
      new X509Certificate(tlsCert);
    } catch {
      issue('tls.cert', 'is not a PEM certificate');
    }
  }
  if (tlsKey !== undefined) {
    try {
      createPrivateKey(tlsKey);
    } catch {
      issue('tls.key', 'is not a PEM private key');
    }
  }

  let signingKey: SigningKey | undefined;
  if (privateKey !== undefined) {
    try {
      signingKey = readPrivateKey(privateKey, parsed.algorithm);
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
    credential: { clientId: parsed.clientId, clientSecret, signingKey, keyId: parsed.keyId, tls: tlsValues, dpop },
    sources: dynamic ? sources : undefined,
  };
}
