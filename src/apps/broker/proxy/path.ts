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

/** The path of a proxied call below the API base. */
interface UpstreamTarget {
  /** The path below the API base as received (`/customers/42`, or `''`), still percent-encoded. */
  readonly rawPath: string;
  /** The same path, decoded: for allow rules, the audit log and metrics. */
  readonly decodedPath: string;
}

/** Where a proxied call goes: the upstream URL (without the query) and the decoded path. */
export interface ResolvedPath {
  /** The upstream URL without its query: the API base, then the path exactly as the consumer sent it. */
  readonly url: string;
  /** The path below the API base, decoded: for allow rules, the audit log and metrics. */
  readonly decodedPath: string;
  /** The API's host (for `Host`). */
  readonly host: string;
}

/** Why a path was refused (in the answer's message; never the path itself). */
export type PathProblem =
  'encoded_separator' | 'double_encoding' | 'backslash' | 'dot_segment' | 'empty_segment' | 'bad_encoding' | 'control_character' | 'outside_base';

const MESSAGES: Readonly<Record<PathProblem, string>> = {
  encoded_separator: 'The path holds an encoded slash or backslash (%2F, %5C)',
  double_encoding: 'The path holds a double-encoded character (%25…)',
  backslash: 'The path holds a backslash',
  dot_segment: 'The path holds a . or .. segment (in some encoding)',
  empty_segment: 'The path holds an empty segment (//): absolute URLs and scheme-relative paths are refused',
  bad_encoding: 'The path holds malformed percent-encoding',
  control_character: 'The path holds a control character',
  outside_base: 'The path leaves the API base',
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
 * Where the path `pathPart` (`/v1/proxy/<provider>/<path>`, as on the request line, without the query)
 * goes under `apiBaseUrl`, or the problem that refuses it. `prefixLength` is the length of `/v1/proxy/`.
 * A path that passed is remembered (per base, bounded): the checks and the parse run once per path an
 * API's callers use, not once per call. Only passes are kept, so refusals cannot fill the cache.
 */
export function resolvePath(apiBaseUrl: string, pathPart: string, prefixLength: number): ResolvedPath | PathProblem {
  let byPath = resolved.get(apiBaseUrl);
  const known = byPath?.get(pathPart);
  if (known !== undefined) return known;
  const target = upstreamTarget(pathPart, prefixLength);
  if (typeof target === 'string') return target;
  const base = apiBase(apiBaseUrl);
  const url = upstreamUrl(base, target);
  if (url === undefined) return 'outside_base';
  const path: ResolvedPath = { url, decodedPath: target.decodedPath, host: base.host };
  if (byPath === undefined) {
    if (resolved.size >= 100) resolved.clear();
    resolved.set(apiBaseUrl, (byPath = new Map()));
  }
  if (byPath.size >= 1000) byPath.clear();
  byPath.set(pathPart, path);
  return path;
}

/** API base → path as received → where it goes (passes only). */
const resolved = new Map<string, Map<string, ResolvedPath>>();

/** Splits `pathPart` into the path below the API base and checks it, or names the problem. */
function upstreamTarget(pathPart: string, prefixLength: number): UpstreamTarget | PathProblem {
  const slash = pathPart.indexOf('/', prefixLength);
  const rawPath = slash < 0 ? '' : pathPart.slice(slash);
  if (rawPath === '' || rawPath === '/') return { rawPath, decodedPath: rawPath === '' ? '/' : rawPath };
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
  return { rawPath, decodedPath };
}

/** An API base ready for appending: `https://host/prefix` (no trailing slash) and its parts. */
interface ApiBase {
  readonly href: string;
  readonly origin: string;
  readonly pathname: string;
  readonly host: string;
}

/** Parses a provider's `apiBaseUrl` (once per path that resolves under it, see resolvePath). */
function apiBase(apiBaseUrl: string): ApiBase {
  const url = new URL(apiBaseUrl);
  const pathname = url.pathname.replace(/\/+$/, '');
  return { href: `${url.origin}${pathname}`, origin: url.origin, pathname, host: url.host };
}

/**
 * The upstream URL (without query) for `target` under `base`, or undefined if — against every check
 * above — parsing it would land outside the base.
 */
function upstreamUrl(base: ApiBase, target: UpstreamTarget): string | undefined {
  const href = `${base.href}${target.rawPath}`;
  const parsed = new URL(href);
  if (parsed.origin !== base.origin) return undefined;
  if (parsed.pathname !== base.pathname && !parsed.pathname.startsWith(`${base.pathname}/`)) return undefined;
  return href;
}
