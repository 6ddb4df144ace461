/**
 * The upstream path of a proxied call, and why it cannot leave the provider's API base.
 *
 * The path is taken from the raw request line (never from the router's decoded parameter) and checked
 * segment by segment before it is appended to the API base: no `.`/`..` segment in any encoding, no
 * encoded slash or backslash, no double encoding (`%25`), no backslash, no empty segment (which is how
 * `//host/…` and `http://host/…` start). What passes is appended as received, so the upstream sees
 * exactly the bytes the consumer sent; the result is parsed once more and must still be under the base.
 * By hand: reply-from only rejects a literal `..` after one decoding, which `%252e%252e` or `%5c` pass.
 */

/** The part of a proxied call's URL that goes upstream. */
export interface UpstreamTarget {
  /** The path below the API base as received (`/customers/42`, or `''`), still percent-encoded. */
  readonly rawPath: string;
  /** The same path, decoded: for allow rules, the audit log and metrics. */
  readonly decodedPath: string;
  /** The query string without `?` (never logged), or `''`. */
  readonly query: string;
}

/** Why a path was refused (in the answer's message; never the path itself). */
export type PathProblem = 'encoded_separator' | 'double_encoding' | 'backslash' | 'dot_segment' | 'empty_segment' | 'bad_encoding' | 'control_character';

const MESSAGES: Readonly<Record<PathProblem, string>> = {
  encoded_separator: 'The path holds an encoded slash or backslash (%2F, %5C)',
  double_encoding: 'The path holds a double-encoded character (%25…)',
  backslash: 'The path holds a backslash',
  dot_segment: 'The path holds a . or .. segment (in some encoding)',
  empty_segment: 'The path holds an empty segment (//): absolute URLs and scheme-relative paths are refused',
  bad_encoding: 'The path holds malformed percent-encoding',
  control_character: 'The path holds a control character',
};

/** The answer's message for a refused path. */
export function pathProblemMessage(problem: PathProblem): string {
  return MESSAGES[problem];
}

// %2F %5C (separators), %00-%1F and %7F (controls, NUL included).
const ENCODED_SEPARATOR = /%(?:2f|5c)/i;
const ENCODED_CONTROL = /%(?:[01][0-9a-f]|7f)/i;
const DOUBLE_ENCODED = /%25/;
const MALFORMED = /%(?![0-9a-f]{2})/i;

/**
 * Splits `rawUrl` (`/v1/proxy/<provider>/<path>?<query>`, as on the request line) into the target, or
 * names the problem. `prefixLength` is the length of `/v1/proxy/`.
 */
export function upstreamTarget(rawUrl: string, prefixLength: number): UpstreamTarget | PathProblem {
  const q = rawUrl.indexOf('?');
  const pathPart = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const query = q < 0 ? '' : rawUrl.slice(q + 1);
  const slash = pathPart.indexOf('/', prefixLength);
  const rawPath = slash < 0 ? '' : pathPart.slice(slash);
  if (rawPath === '' || rawPath === '/') return { rawPath, decodedPath: rawPath === '' ? '/' : rawPath, query };
  if (rawPath.includes('\\')) return 'backslash';
  if (rawPath.includes('%')) {
    if (MALFORMED.test(rawPath)) return 'bad_encoding';
    if (ENCODED_SEPARATOR.test(rawPath)) return 'encoded_separator';
    if (DOUBLE_ENCODED.test(rawPath)) return 'double_encoding';
    if (ENCODED_CONTROL.test(rawPath)) return 'control_character';
  }
  const segments = rawPath.slice(1).split('/');
  let decodedPath = '';
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    // A trailing slash is a path of its own (`/customers/`); an empty segment anywhere else is not.
    if (segment === '' && i !== segments.length - 1) return 'empty_segment';
    let decoded: string;
    try {
      decoded = segment.includes('%') ? decodeURIComponent(segment) : segment;
    } catch {
      return 'bad_encoding';
    }
    if (decoded === '.' || decoded === '..') return 'dot_segment';
    decodedPath += `/${decoded}`;
  }
  return { rawPath, decodedPath, query };
}

/** An API base ready for appending: `https://host/prefix` (no trailing slash) and its parts. */
export interface ApiBase {
  readonly href: string;
  readonly origin: string;
  readonly pathname: string;
  readonly host: string;
}

const bases = new Map<string, ApiBase>();

/** Parses (once per base) a provider's `apiBaseUrl`. */
export function apiBase(apiBaseUrl: string): ApiBase {
  let base = bases.get(apiBaseUrl);
  if (base === undefined) {
    const url = new URL(apiBaseUrl);
    const pathname = url.pathname.replace(/\/+$/, '');
    base = { href: `${url.origin}${pathname}`, origin: url.origin, pathname, host: url.host };
    if (bases.size > 1000) bases.clear();
    bases.set(apiBaseUrl, base);
  }
  return base;
}

/**
 * The upstream URL (without query) for `target` under `base`, or undefined if — against every check
 * above — parsing it would land outside the base.
 */
export function upstreamUrl(base: ApiBase, target: UpstreamTarget): string | undefined {
  const href = `${base.href}${target.rawPath}`;
  // A path that passed once passes again: the parse (about 1 µs) is skipped for the paths an API's
  // callers repeat. Only passes are kept, so the cache cannot be filled with refusals.
  if (underBase.has(href)) return href;
  const parsed = new URL(href);
  if (parsed.origin !== base.origin) return undefined;
  if (parsed.pathname !== base.pathname && !parsed.pathname.startsWith(`${base.pathname}/`)) return undefined;
  if (underBase.size >= 1000) underBase.clear();
  underBase.add(href);
  return href;
}

/** Upstream URLs already found under their base (bounded: emptied when full). */
const underBase = new Set<string>();
