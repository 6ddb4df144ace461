/**
 * Scrubbing of text that may have come from a provider or a library before it goes into an error
 * message or a log line. Secrets themselves are never stored where inspection reaches: the built-in
 * providers keep them in private class fields (`#clientSecret`), a `defineProvider` provider in the
 * closure of its `requestToken`, and each provider shows `util.inspect` and `JSON.stringify` only its
 * public shape.
 */

/** What a removed value is replaced with. */
export const REDACTED = '[redacted]';

/** Longest provider text kept in an error message. */
export const MAX_QUOTED_LENGTH = 200;

const SENSITIVE_JSON_FIELD = /("(?:access_token|refresh_token|id_token|client_secret|password|secret|token)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi;
const SENSITIVE_FORM_FIELD = /\b(access_token|refresh_token|id_token|client_secret|password)=[^&\s"]*/gi;
const AUTHORIZATION_VALUE = /\b(Bearer|Basic|DPoP)\s+[A-Za-z0-9\-._~+/]+=*/gi;
const JWT_SHAPE = /\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;

/**
 * Removes known secrets and anything shaped like a credential or token from `text`, then truncates it.
 * `secrets` are the values this caller knows (a client secret, say), removed verbatim and in their
 * URL-encoded and Base64 forms.
 */
export function scrub(text: string, secrets: readonly string[] = [], maxLength = MAX_QUOTED_LENGTH): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    for (const form of secretForms(secret)) out = out.split(form).join(REDACTED);
  }
  out = out
    .replace(SENSITIVE_JSON_FIELD, `$1"${REDACTED}"`)
    .replace(SENSITIVE_FORM_FIELD, `$1=${REDACTED}`)
    .replace(AUTHORIZATION_VALUE, `$1 ${REDACTED}`)
    .replace(JWT_SHAPE, REDACTED);
  // Control characters could forge log lines.
  // eslint-disable-next-line no-control-regex
  out = out.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return out.length > maxLength ? `${out.slice(0, maxLength)}…` : out;
}

function secretForms(secret: string): string[] {
  const forms = new Set([secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')]);
  return [...forms].filter((form) => form.length > 0);
}

/** Returns a scrubber bound to the given secrets, for modules that scrub many strings. */
export function scrubberFor(secrets: readonly string[]): (text: string) => string {
  return (text) => scrub(text, secrets);
}
