/**
 * What the command line's `--config` file and the broker's config file share: reading JSON without
 * ever quoting it; client secrets taken from an environment variable or a file — never inline
 * (config files get committed, copied and pasted into tickets); and the one schema and builder of a
 * provider section (`providers.<id>`), so `tokenbroker token --config` and `tokenbroker serve` read
 * the same file the same way. The provider factories validate their own options; their problems are
 * renamed to the file's fields here.
 */
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../base/errors.js';
import { describeIssue as describeOption, withoutFactory } from '../base/zod-issues.js';
import type { Provider } from '../providers/provider.js';
import { alternativePayments, autopay, oauth2 } from '../providers/index.js';
import { secretFile, type SecretFile } from '../providers/secret-file.js';

/** A name an environment variable can have. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The two ways a config file names a client secret; a schema spreads these into a provider section. */
export const secretSourceFields = {
  /** Name of the environment variable that holds the client secret. */
  clientSecretEnv: z.string().regex(ENV_NAME, 'must be an environment variable name').optional(),
  /** Path of a file that holds the client secret (relative to the config file). */
  clientSecretFile: z.string().min(1, 'must not be empty').optional(),
};

/** Which of the two a problem is about. */
export type SecretSourceField = 'clientSecretEnv' | 'clientSecretFile';

/** The problem when a section names neither source. */
export const SECRET_SOURCE_MISSING = 'is required (or clientSecretFile): the secret is read from an environment variable or a file';
/** The problem when a section names both. */
export const SECRET_SOURCE_TWICE = 'give clientSecretEnv or clientSecretFile, not both';
/** The problem with a secret written into the file. */
export const INLINE_SECRET_MESSAGE =
  'secrets are not accepted inline in a config file; use "clientSecretEnv": "<NAME OF AN ENVIRONMENT VARIABLE>" or "clientSecretFile": "<path>"';

// Fields that would hold a secret inline: refused by name, before schema validation, with a hint.
const INLINE_SECRET_FIELDS = ['clientSecret', 'client_secret', 'secret', 'password'];

/** Reads a JSON config file. Its text is never quoted in an error: it may hold anything. */
export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([{ path: '--config', message: `cannot read ${path}${systemCode(error)}` }]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    // JSON.parse quotes the text around the error, which may be a secret: keep only the position.
    const position = /(position \d+|line \d+ column \d+)/.exec(error instanceof Error ? error.message : '');
    throw new ConfigError([{ path: basename(path), message: `is not valid JSON${position === null ? '' : ` (at ${position[1]})`}` }]);
  }
}

/** True when a raw provider section holds a secret inline. */
export function hasInlineSecret(section: unknown): boolean {
  return typeof section === 'object' && section !== null && INLINE_SECRET_FIELDS.some((field) => Object.hasOwn(section, field));
}

/** The `providers.<id>.<field>` of a raw config that hold a secret inline. */
export function inlineSecrets(raw: unknown): Array<{ readonly id: string; readonly field: string }> {
  const providers = (raw as { providers?: unknown } | null)?.providers;
  if (typeof providers !== 'object' || providers === null) return [];
  const found: Array<{ id: string; field: string }> = [];
  for (const [id, section] of Object.entries(providers)) {
    if (typeof section !== 'object' || section === null) continue;
    for (const field of INLINE_SECRET_FIELDS) if (Object.hasOwn(section, field)) found.push({ id, field });
  }
  return found;
}

/** Reports a problem; `field` is undefined when it concerns the section as a whole. */
export type ReportSecretProblem = (field: SecretSourceField | undefined, message: string) => void;

/**
 * The client secret a section names, from the environment variable or the file (relative to
 * `baseDir`, trailing newline removed). Problems go to `report`; the result is then undefined.
 */
export function readSecretSource(
  section: { readonly clientSecretEnv?: string | undefined; readonly clientSecretFile?: string | undefined },
  context: { readonly env: Readonly<Record<string, string | undefined>>; readonly baseDir: string },
  report: ReportSecretProblem,
): string | undefined {
  const { clientSecretEnv, clientSecretFile } = section;
  if (clientSecretEnv === undefined && clientSecretFile === undefined) {
    report('clientSecretEnv', SECRET_SOURCE_MISSING);
    return undefined;
  }
  if (clientSecretEnv !== undefined && clientSecretFile !== undefined) {
    report(undefined, SECRET_SOURCE_TWICE);
    return undefined;
  }
  if (clientSecretEnv !== undefined) {
    const value = context.env[clientSecretEnv];
    if (value === undefined || value === '') {
      report('clientSecretEnv', `names ${clientSecretEnv}, which is not set`);
      return undefined;
    }
    return value;
  }
  return readSecretFile(resolve(context.baseDir, clientSecretFile!), (message) => report('clientSecretFile', message));
}

/** The secret in a file, without its trailing newline; problems go to `report`. */
export function readSecretFile(path: string, report: (message: string) => void): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    report(`cannot read ${path}${systemCode(error)}`);
    return undefined;
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret === '') {
    report(`${path} is empty`);
    return undefined;
  }
  return secret;
}

function systemCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? ` (${code})` : '';
}

// ---------------------------------------------------------------------------------------------------
// Provider sections

/** Provider ids appear in URLs (`/v1/tokens/:provider`), metric labels and command lines. */
export const PROVIDER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const optionalString = z.string().min(1, 'must not be empty').optional();
const clientId = z.string().min(1, 'must not be empty');

const alternativePaymentsSection = z.strictObject({
  type: z.literal('alternative-payments'),
  clientId,
  ...secretSourceFields,
  environment: z.enum(['production', 'demo']).optional(),
  baseUrl: optionalString,
});

const autopaySection = z.strictObject({
  type: z.literal('autopay'),
  clientId,
  ...secretSourceFields,
  audience: optionalString,
  tokenUrl: optionalString,
  apiBaseUrl: optionalString,
});

const oauth2Section = z.strictObject({
  type: z.literal('oauth2'),
  clientId,
  ...secretSourceFields,
  tokenUrl: optionalString,
  issuer: optionalString,
  scope: optionalString,
  audience: optionalString,
  resource: optionalString,
  authMethod: z.enum(['client_secret_basic', 'client_secret_post']).optional(),
  apiBaseUrl: optionalString,
  /** DPoP-bound tokens (RFC 9449) with a key made at start; the broker serves such a provider through its proxy only. */
  dpop: z.literal(true).optional(),
});

/** One `providers.<id>` section, for the command and the broker alike. */
export const providerSectionSchema = z.discriminatedUnion('type', [alternativePaymentsSection, autopaySection, oauth2Section], {
  error: 'must be "alternative-payments", "autopay" or "oauth2"',
});

/** One provider section of a config file, as written. */
export type ProviderSection = z.input<typeof providerSectionSchema>;

/** Reports a problem at `field` (a path inside the section; empty for the section itself). */
export type ReportSectionProblem = (field: readonly PropertyKey[], message: string) => void;

/**
 * Validates one provider section, reads its secret and builds the provider. Every problem goes to
 * `report`, named by the section's own fields; the result is then undefined. A section with a secret
 * inline is skipped silently: {@link inlineSecrets} reports those, with the hint.
 */
export function loadProviderSection(
  section: unknown,
  context: { readonly env: Readonly<Record<string, string | undefined>>; readonly baseDir: string },
  report: ReportSectionProblem,
): { readonly provider: Provider; readonly secret: string; readonly section: z.output<typeof providerSectionSchema> } | undefined {
  if (hasInlineSecret(section)) return undefined;
  const parsed = providerSectionSchema.safeParse(section);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) report(issue.path, describeConfigFileIssue(issue));
    return undefined;
  }
  const data = parsed.data;
  const secret = readSecretSource(data, context, (field, message) => report(field === undefined ? [] : [field], message));
  if (secret === undefined) return undefined;
  // A file stays the provider's source: read again before each token request, so a rotated file is
  // used without a restart or SIGHUP (docs/secrets.md).
  const source = data.clientSecretFile === undefined ? secret : secretFile(resolve(context.baseDir, data.clientSecretFile));
  try {
    return { provider: buildProvider(data, source), secret, section: data };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // `alternativePayments.baseUrl` → `baseUrl`; the secret is named by where it came from.
    for (const issue of error.issues) {
      const field = withoutFactory(issue.path);
      const named = field === 'clientSecret' ? (data.clientSecretEnv === undefined ? 'clientSecretFile' : 'clientSecretEnv') : field;
      report(named === '' ? [] : [named], issue.message);
    }
    return undefined;
  }
}

function buildProvider(section: z.output<typeof providerSectionSchema>, clientSecret: string | SecretFile): Provider {
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
        dpop: section.dpop,
      });
  }
}

/**
 * The library's one zod-issue formatter, in a config file's words: "field" rather than "option", and
 * the schema's own messages for list lengths and unions (they say what the list or union must be).
 */
export function describeConfigFileIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `has unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
  if ((issue.code === 'too_small' || issue.code === 'too_big') && issue.origin === 'array') return issue.message;
  if (issue.code === 'invalid_union' && issue.message.includes('must be')) return issue.message;
  return describeOption(issue);
}
