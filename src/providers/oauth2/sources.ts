/**
 * The secrets of an `oauth2()` credential that come from a function or a file (issue 22): the client
 * secret, the `private_key_jwt` key, the mutual-TLS certificate and key, and the client assertion
 * (RFC 7523 §2.2: a JWT someone else signed — a Kubernetes projected service-account token, a SPIFFE
 * JWT-SVID). Reading them gives the credential settings to use from now on; a key or certificate that
 * no longer parses is a ConfigError naming its field (never quoting it), and the old one stays.
 *
 * The client assertion is not part of the credential's identity (it changes every hour or so while the
 * client stays the same): it is read before each token request and sent as it is, never kept past
 * that request.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { ConfigError } from '../../base/errors.js';
import type { SecretProblemReport, SecretReader } from '../secret-source.js';
import { readPrivateKey, type SigningAlgorithm } from './keys.js';
import type { CredentialSettings, CredentialSources } from './options.js';

/** RFC 7523 §2.2: the `client_assertion_type` of a JWT bearer assertion. */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** What one read of the sources found. */
export interface SourcesRead {
  /** The settings to use from now on (the same object when nothing that identifies the credential changed). */
  readonly credential: CredentialSettings;
  /** Whether any source changed, the assertion included. */
  readonly changed: boolean;
  /** The client assertion read now, for the next request. */
  readonly assertion: string | undefined;
}

/** Reads every source of `sources` and applies what changed to `credential`. */
export async function readSources(sources: CredentialSources, credential: CredentialSettings, report: SecretProblemReport): Promise<SourcesRead> {
  const [, key, , , assertion] = await Promise.all(
    [sources.clientSecret, sources.privateKey, sources.tlsCert, sources.tlsKey, sources.clientAssertion].map((reader) => reader?.read(report) ?? false),
  );
  let next = credential;
  // Values are compared with the settings rather than trusting each reader's own "changed": a read
  // that failed half-way (a broken key beside a new secret) is then completed by the next one. A
  // reader read for the first time (a function) has no value in the settings yet.
  if (sources.clientSecret !== undefined && sources.clientSecret.value !== next.clientSecret) next = { ...next, clientSecret: sources.clientSecret.value };
  if (key === true || (sources.privateKey !== undefined && next.signingKey === undefined)) {
    next = { ...next, signingKey: parsedKey(sources.privateKey!, sources.algorithm) };
  }
  const tlsCert = sources.tlsCert?.value ?? credential.tls?.cert;
  const tlsKey = sources.tlsKey?.value ?? credential.tls?.key;
  if ((sources.tlsCert !== undefined || sources.tlsKey !== undefined) && (tlsCert !== next.tls?.cert || tlsKey !== next.tls?.key)) {
    next = { ...next, tls: parsedTls(sources, credential) };
  }
  return { credential: next, changed: next !== credential || assertion === true, assertion: sources.clientAssertion?.value };
}

function parsedKey(reader: SecretReader, algorithm: SigningAlgorithm | undefined): CredentialSettings['signingKey'] {
  try {
    return readPrivateKey(reader.value!, algorithm);
  } catch (error) {
    throw new ConfigError([{ path: reader.field, message: (error as Error).message }]);
  }
}

function parsedTls(sources: CredentialSources, credential: CredentialSettings): CredentialSettings['tls'] {
  const cert = sources.tlsCert?.value ?? credential.tls?.cert;
  const key = sources.tlsKey?.value ?? credential.tls?.key;
  if (cert === undefined || key === undefined) return credential.tls;
  const issues = [];
  try {
    new X509Certificate(cert);
  } catch {
    issues.push({ path: sources.tlsCert?.field ?? 'oauth2.tls.cert', message: 'is not a PEM certificate' });
  }
  try {
    createPrivateKey(key);
  } catch {
    issues.push({ path: sources.tlsKey?.field ?? 'oauth2.tls.key', message: 'is not a PEM private key' });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return { cert, key, ca: credential.tls?.ca };
}
