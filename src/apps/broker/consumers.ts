/**
 * Who may ask the broker for tokens: the consumers of the config file, each authenticated by the
 * SHA-256 of an API key (one, or two during a rotation) or — when the broker serves https with a
 * client CA — by its client certificate (SHA-256 fingerprint or subject CN). And the TLS section that
 * makes the latter possible.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { PROVIDER_ID } from '../config-file.js';
import { allowRuleSchema, proxyConsumerIssues, resolveAllowRules, type AllowRule } from './proxy/config.js';

type Add = (path: readonly PropertyKey[], message: string) => void;
type Check = <S extends z.ZodType>(schema: S, value: unknown, path: readonly PropertyKey[]) => z.output<S> | undefined;

/** SHA-256 of the empty string: a consumer with this hash would authenticate with an empty key. */
export const EMPTY_KEY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const sha256Hex = z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be the SHA-256 of the key: 64 hex characters');
/** `AB:CD:…` as openssl and Node print it, or plain hex. */
const fingerprint = z
  .string()
  .regex(/^([0-9a-fA-F]{2}:){31}[0-9a-fA-F]{2}$|^[0-9a-fA-F]{64}$/, 'must be a SHA-256 certificate fingerprint (64 hex digits, colons allowed)');

const consumerSchema = z.strictObject({
  /** Shown in the audit log and metrics: who asked. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'must be 1–64 letters, digits or . _ @ -'),
  /** SHA-256 of the consumer's API key, hex; two during a key rotation. */
  keySha256: z.union([sha256Hex, z.array(sha256Hex).min(1, 'must list one or two hashes').max(2, 'must list one or two hashes')]).optional(),
  /** SHA-256 fingerprint of the consumer's client certificate (needs `tls.caFile`). */
  certFingerprint256: fingerprint.optional(),
  /** Subject CN of the consumer's client certificate, verified against `tls.caFile`. */
  certSubject: z.string().min(1).max(256).optional(),
  /** Provider ids this consumer may get tokens for. */
  providers: z.array(z.string()).min(1, 'must list at least one provider id'),
  /** Optional: token requests this consumer may make per minute (all providers); beyond it, 429. */
  requestsPerMinute: z.number().int().min(1).max(10_000_000).optional(),
  /** The proxy: methods and path prefixes this consumer may call, per provider (docs/proxy.md). */
  allow: z.array(allowRuleSchema).optional(),
  /** Served through the proxy only: `GET /v1/tokens/…` is refused. */
  proxyOnly: z.boolean().optional(),
  /** Sidecar: the consumer of requests that present no key (needs a unix socket or loopback listener; proxy only). */
  anonymous: z.literal(true).optional(),
});

/** One consumer of the config file. */
export type ConsumerConfig = z.input<typeof consumerSchema>;

/** A consumer, ready for authentication.
 * The command's plumbing, leaving this entry point (issue 24); not part of the documented API. @internal */
export interface Consumer {
  readonly name: string;
  /** SHA-256 of its keys: none (certificate only), one, or two during a rotation. */
  readonly digests: readonly Buffer[];
  /** A short prefix of each digest, for the audit log (`keyId`). */
  readonly keyIds: readonly string[];
  /** Its client certificate's SHA-256 fingerprint, upper-case hex with colons (Node's format). */
  readonly certFingerprint256: string | undefined;
  /** Its client certificate's subject CN. */
  readonly certSubject: string | undefined;
  readonly providers: ReadonlySet<string>;
  /** Token requests per minute, when limited. */
  readonly requestsPerMinute: number | undefined;
  /** The proxy's method and path rules; undefined: whatever `providers` allows. */
  readonly allow: readonly AllowRule[] | undefined;
  /** Refused raw tokens: the proxy only (always so for an anonymous consumer). */
  readonly proxyOnly: boolean;
  /** The consumer of requests that present no key (sidecar). */
  readonly anonymous: boolean;
}

/** Validates the consumers; every problem goes to `add`. */
export function resolveConsumers(
  list: readonly unknown[],
  context: { readonly providerIds: ReadonlySet<string>; readonly clientCertificates: boolean },
  add: Add,
  check: Check,
): Consumer[] {
  const consumers: Consumer[] = [];
  const names = new Set<string>();
  const digests = new Set<string>();
  list.forEach((entry, index) => {
    const path = ['consumers', index];
    const consumer = check(consumerSchema, entry, path);
    if (consumer === undefined) return;
    if (names.has(consumer.name)) add([...path, 'name'], 'is used by another consumer');
    names.add(consumer.name);
    const byCertificate = consumer.certFingerprint256 !== undefined || consumer.certSubject !== undefined;
    proxyConsumerIssues(consumer, path, add);
    if (consumer.keySha256 === undefined && !byCertificate && consumer.anonymous !== true)
      add([...path, 'keySha256'], 'is required (or certFingerprint256 / certSubject with tls.caFile)');
    if (byCertificate && !context.clientCertificates) {
      add(
        [...path, consumer.certFingerprint256 === undefined ? 'certSubject' : 'certFingerprint256'],
        'needs tls.caFile: client certificates are verified against it',
      );
    }
    const given = consumer.keySha256 === undefined ? [] : typeof consumer.keySha256 === 'string' ? [consumer.keySha256] : consumer.keySha256;
    const hashes = given.map((h) => h.toLowerCase());
    const hashPath = (i: number) => (typeof consumer.keySha256 === 'string' ? [...path, 'keySha256'] : [...path, 'keySha256', i]);
    hashes.forEach((digest, i) => {
      if (digest === EMPTY_KEY_SHA256) add(hashPath(i), 'is the SHA-256 of an empty key; hash the key itself (tokenbroker hash-key)');
      if (digests.has(digest)) add(hashPath(i), "is the same key as another consumer's: each consumer needs its own key");
      digests.add(digest);
    });
    consumer.providers.forEach((id, i) => {
      if (!context.providerIds.has(id))
        add([...path, 'providers', i], `names no provider of this file (${PROVIDER_ID.test(id) ? JSON.stringify(id) : 'not a valid provider id'})`);
    });
    consumers.push({
      name: consumer.name,
      digests: hashes.map((digest) => Buffer.from(digest, 'hex')),
      keyIds: hashes.map((digest) => digest.slice(0, 8)),
      certFingerprint256: consumer.certFingerprint256 === undefined ? undefined : normalizeFingerprint(consumer.certFingerprint256),
      certSubject: consumer.certSubject,
      providers: new Set(consumer.providers),
      requestsPerMinute: consumer.requestsPerMinute,
      allow: resolveAllowRules(consumer.allow),
      proxyOnly: consumer.proxyOnly === true || consumer.anonymous === true,
      anonymous: consumer.anonymous === true,
    });
  });
  return consumers;
}

/** `ab:cd…` or `abcd…` → `AB:CD:…`, as `tls.TLSSocket#getPeerCertificate().fingerprint256` has it. */
export function normalizeFingerprint(value: string): string {
  const hex = value.replaceAll(':', '').toUpperCase();
  return hex.match(/../g)!.join(':');
}

const tlsSchema = z.strictObject({
  /** The server certificate (PEM, chain included). */
  certFile: z.string().min(1),
  /** Its private key (PEM). A secret: read, never printed. */
  keyFile: z.string().min(1),
  /** CA of client certificates: with it, consumers may authenticate by certificate instead of an API key. */
  caFile: z.string().min(1).optional(),
});

/** The `tls` section, as written. */
export type TlsConfig = z.input<typeof tlsSchema>;

/** The `tls` section with its files read.
 * The command's plumbing, leaving this entry point (issue 24); not part of the documented API. @internal */
export interface ResolvedTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
}

/** Reads the TLS files (relative to the config file). Problems name the field and the path, never the content. */
export function resolveTls(value: unknown, baseDir: string, add: Add, check: Check): ResolvedTls | undefined {
  if (value === undefined) return undefined;
  const tls = check(tlsSchema, value, ['tls']);
  if (tls === undefined) return undefined;
  const read = (field: 'certFile' | 'keyFile' | 'caFile', file: string): Buffer | undefined => {
    const path = resolve(baseDir, file);
    try {
      return readFileSync(path);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      add(['tls', field], `cannot read ${path}${typeof code === 'string' ? ` (${code})` : ''}`);
      return undefined;
    }
  };
  const cert = read('certFile', tls.certFile);
  const key = read('keyFile', tls.keyFile);
  const ca = tls.caFile === undefined ? undefined : read('caFile', tls.caFile);
  if (cert === undefined || key === undefined || (tls.caFile !== undefined && ca === undefined)) return undefined;
  return { cert, key, ca };
}
